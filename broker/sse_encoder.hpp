#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald::sse {

/// Event types Herald sends itself start with this; publishers may not use it.
inline constexpr std::string_view reserved_event_prefix = "herald-";

/// Event type of the notice sent before a replay that history no longer fully covers.
inline constexpr std::string_view truncated_event_type = "herald-history-truncated";

/// Encodes one event as an SSE frame. `data` is split on CR, LF and CRLF into one
/// `data:` line each; `type` must already be free of CR, LF and NUL (see valid_event_type).
std::string encode_event(std::uint64_t id, std::string_view type, std::string_view data);

/// The same frame in two steps, so the costly part runs before the id is known: the fields
/// after the id line, then the frame with its id line (one copy of `fields`).
std::string encode_event_fields(std::string_view type, std::string_view data);
std::string with_id(std::uint64_t id, std::string_view fields);

/// The bytes that open every stream: the reconnect delay and a comment.
std::string encode_stream_open(std::uint64_t retry_ms);

/// A comment frame; `text` must not contain CR or LF.
std::string encode_comment(std::string_view text);

/// Event type of the notice sent after a replay when the client asked with ?notifyReplay=1.
inline constexpr std::string_view replay_complete_event_type = "herald-replay-complete";

/// A frame of Herald's own (notices, stats): a type and one line of JSON, and no id line,
/// so the client's last event id stays put.
std::string encode_control(std::string_view type, std::string_view json_line);

/// The history-truncated notice.
std::string encode_truncated_notice(const std::vector<std::string>& topics, std::string_view last_event_id);

/// The end-of-replay notice.
std::string encode_replay_complete(std::size_t replayed);

/// Event type of the notice sent shortly before a stream ends because its token expires.
inline constexpr std::string_view token_expiring_event_type = "herald-token-expiring";

/// The token-expiring notice: `{"exp":N}`, the token's exp claim in Unix seconds.
std::string encode_token_expiring(std::int64_t exp);

/// True when `type` may be sent as an `event:` field: no CR, LF or NUL.
bool valid_event_type(std::string_view type);

}  // namespace herald::sse
