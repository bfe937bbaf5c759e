#pragma once
// absl::Time/Duration <-> google.protobuf.Timestamp/Duration, and the text
// form Postgres accepts for timestamptz parameters.

#include <string>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace cantdo::workflow {

inline google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = absl::ToUnixMicros(t);
  ts.set_seconds(micros / 1'000'000 - (micros % 1'000'000 < 0 ? 1 : 0));
  ts.set_nanos(static_cast<int32_t>(((micros % 1'000'000) + 1'000'000) % 1'000'000) * 1000);
  return ts;
}
inline absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}
inline google::protobuf::Duration ToProto(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t micros = absl::ToInt64Microseconds(d);
  out.set_seconds(micros / 1'000'000);
  out.set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
  return out;
}
inline absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// Microsecond precision, UTC, as Postgres prints and parses it.
inline std::string PgTime(absl::Time t) { return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone()); }
}  // namespace cantdo::workflow
