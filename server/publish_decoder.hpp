#pragma once
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "broker/broker.hpp"
#include "server/url.hpp"

namespace herald {

/// A publish request turned into validated messages.
struct DecodedPublish {
  std::vector<Message> messages;
  bool batch = false;  ///< the body was a JSON array: answer with "ids"
};

/// Why a publish request was refused: an HTTP status and a one-line message.
struct PublishError {
  int status;
  std::string message;
};

/// Decodes a POST /publish body. With `topic` in the URL query the body is the data (any
/// content type; `event` may be in the query too). Otherwise the content type picks the
/// format: application/json (an object or an array of objects) or
/// application/x-www-form-urlencoded. Validates topic names and event types.
std::variant<DecodedPublish, PublishError> decode_publish(std::string_view content_type, const QueryParams& query,
                                                          std::string_view body);

}  // namespace herald
