// Random identifiers from the OS's CSPRNG (OpenSSL): event ids and request ids.
#pragma once

#include <chrono>
#include <string>

namespace miconsul::ids {

/// An RFC 9562 version-4 UUID in its 36-character text form.
std::string random_uuid();

/// An RFC 9562 version-7 UUID: the milliseconds of `at` since the Unix epoch, then 74 random
/// bits. Ids made later sort after (to the millisecond), so rows keyed by them are appended
/// to the end of an index instead of dirtying a random page of it per row.
std::string time_ordered_uuid(std::chrono::system_clock::time_point at);

/// 16 hex characters, for correlating the logs of one request.
std::string random_request_id();

}  // namespace miconsul::ids
