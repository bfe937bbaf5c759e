#pragma once
// The few pieces of Go's standard library that grpcurl's output passes
// through, reproduced byte for byte: encoding/json's string quoting, float
// formatting and compaction, strconv's shortest float formatting, and
// json.Unmarshal into a map followed by json.Marshal (which sorts keys).
//
// The reference is Go 1.19, the toolchain grpcurl v1.8.7's releases were
// built with. Later Go releases differ in one place that matters here: from
// Go 1.22, json.Marshal writes U+0008 and U+000C as \b and \f instead of
// \u0008 and \u000c.
//
// No library on Debian reproduces these rules (nlohmann::json and
// protobuf's JSON printer escape and format numbers differently), hence
// this file.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cantdo::grpcurl::go {

// json.Marshal(s) for a Go string: quoted, with \" \\ \n \r \t, other bytes
// below 0x20 and < > & as \u00XX (lowercase hex), U+2028/U+2029 as \u2028,
// \u2029, and each byte of invalid UTF-8 as \ufffd.
std::string Quote(std::string_view s);

// strconv.FormatFloat(v, 'g', -1, bits): the shortest digits that read
// back as v (as a float32 when bits is 32), written as %e ("1e+06",
// "1.5e-05") when the decimal exponent is < -4 or >= 6, else as %f.
// REQUIRES: v is finite; bits is 32 or 64.
std::string FormatFloatG(double v, int bits);

// json.Marshal of a float64 (bits 64) or float32 (bits 32): shortest
// digits, as %f unless |v| < 1e-6 or >= 1e21, then as %e with a negative
// exponent's leading zero dropped ("1e-07" becomes "1e-7"; "1e+21" stays).
// REQUIRES: v is finite (NaN and infinities are not JSON; callers handle
// them first).
std::string JsonFloat(double v, int bits);

// Go's json.Compact (with HTML escaping) of valid JSON: drops whitespace
// outside strings. REQUIRES: `json` is valid JSON whose strings are already
// quoted by Quote (so nothing is left to escape).
std::string Compact(std::string_view json);

// What golang/protobuf's jsonpb does to put a type URL into the JSON of a
// message that marshals itself: json.Unmarshal the object into a
// map[string]*json.RawMessage, set "@type", json.Marshal the map. The
// result is compact, with the object's top-level keys sorted (Go sorts map
// keys when marshalling); nested objects keep their order.
// REQUIRES: `object` is a JSON object produced by this library's writers.
absl::StatusOr<std::string> MarshalObjectWithType(std::string_view object, std::string_view type_url);

}  // namespace cantdo::grpcurl::go
