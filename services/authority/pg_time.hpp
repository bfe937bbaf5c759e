#pragma once
// Times between the authority and PostgreSQL. Statements take times as
// text parameters (the authority's injected clock, never the database's
// now(), so tests can move time), and select timestamptz columns as Unix
// microseconds (kUs), 0 for NULL.

#include <cstdint>
#include <string>

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace cantdo::authority {

// An ISO 8601 UTC text PostgreSQL parses as timestamptz, to the microsecond.
inline std::string PgTime(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone()); }

// Unix microseconds (as selected with CANTDO_PG_US) into a Timestamp.
inline void SetMicros(google::protobuf::Timestamp* ts, int64_t micros) {
  ts->set_seconds(micros / 1000000);
  ts->set_nanos(static_cast<int>((micros % 1000000) * 1000));
}

}  // namespace cantdo::authority

// A timestamptz column as Unix microseconds, 0 when NULL, named `alias`.
#define CANTDO_PG_US(column, alias) "coalesce((extract(epoch from " column ") * 1000000)::bigint, 0) AS " alias
