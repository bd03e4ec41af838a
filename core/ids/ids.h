// Random identifiers from the OS's CSPRNG (OpenSSL): event ids and request ids.
#pragma once

#include <string>

namespace miconsul::ids {

/// An RFC 9562 version-4 UUID in its 36-character text form.
std::string random_uuid();

/// 16 hex characters, for correlating the logs of one request.
std::string random_request_id();

}  // namespace miconsul::ids
