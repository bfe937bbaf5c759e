// Files read and replaced whole.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cantdo {

// The whole content of `path`, as bytes; NOT_FOUND naming the file if it
// cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `content` to `path` through a temporary file in the same directory
// and a rename, so readers see the old file or the new one, never a part.
// Errors are UNAVAILABLE and name the file.
absl::Status ReplaceFile(const std::string& path, const std::string& content);

}  // namespace cantdo
