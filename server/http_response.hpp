#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald {

/// A complete (non-streaming) HTTP response, serialised by to_string().
struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  ///< send "Connection: close" and close after writing
  bool head = false;   ///< answer to HEAD: headers only

  /// The whole response; HTTP/1.0 peers get an HTTP/1.0 status line.
  std::string to_string(bool http10) const;
};

std::string_view reason_phrase(int status);

/// `{"error": message}` with the given status.
HttpResponse json_error(int status, std::string_view message);
/// 401 with `{"error": message}` and a Bearer challenge (error="invalid_token" when a token
/// was sent but refused).
HttpResponse unauthorized(std::string_view message, bool invalid_token);
/// A JSON body with the given status.
HttpResponse json_response(int status, std::string body);

}  // namespace herald
