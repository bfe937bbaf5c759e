#pragma once
// Payload helpers: workflow inputs, results, signal bodies and markers are
// google.protobuf.Any.

#include <string>

#include <google/protobuf/any.pb.h>
#include <google/protobuf/wrappers.pb.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cantdo::workflow {

inline google::protobuf::Any Pack(const google::protobuf::Message& m) {
  google::protobuf::Any any;
  any.PackFrom(m);
  return any;
}

// INVALID_ARGUMENT if `any` does not hold a T.
template <typename T>
absl::StatusOr<T> Unpack(const google::protobuf::Any& any) {
  T out;
  if (!any.UnpackTo(&out)) {
    return absl::InvalidArgumentError("payload is " + any.type_url() + ", not " + T::descriptor()->full_name());
  }
  return out;
}

inline google::protobuf::Any PackString(absl::string_view s) {
  google::protobuf::StringValue v;
  v.set_value(std::string(s));
  return Pack(v);
}
inline google::protobuf::Any PackInt64(int64_t i) {
  google::protobuf::Int64Value v;
  v.set_value(i);
  return Pack(v);
}

}  // namespace cantdo::workflow
