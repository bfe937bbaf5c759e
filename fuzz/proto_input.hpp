#pragma once
// Parses a fuzz input as a request message exactly as gRPC's protobuf
// deserializer does (ParseFromArray: proto3 UTF-8 checks, recursion limit
// 100); an input that does not parse is refused before any handler runs
// (libs/grpc's interceptor answers REQUEST_UNPARSEABLE), so it ends there.

#include <optional>
#include <string_view>

namespace cantdo::fuzz {

template <typename Message>
std::optional<Message> Parse(std::string_view input) {
  Message m;
  if (!m.ParseFromArray(input.data(), static_cast<int>(input.size()))) return std::nullopt;
  return m;
}

}  // namespace cantdo::fuzz
