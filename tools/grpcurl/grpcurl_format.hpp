#pragma once
// What grpcurl v1.8.7 prints, byte for byte: a response message as its JSON
// formatter renders it, and a failed call's status as its PrintStatus does.
//
// grpcurl v1.8.7 (cmd/grpcurl, format.go) marshals each response with
// golang/protobuf v1.5's jsonpb.Marshaler{Indent: "  ", EmitDefaults:
// -emit-defaults} and prints it followed by a newline (streams: one after
// the other, no separator). Responses are jhump/protoreflect v1.12 dynamic
// messages, which marshal themselves; that decides most of the format:
//
//  - A field is named by the json_name of the descriptor the server's
//    reflection sent, else by its proto name. C++ servers send descriptors
//    without json_name, so against cantdo grpcurl prints proto names
//    (`run_id`, not `runId`).
//  - Fields in field-number order, map entries sorted by key; 64-bit
//    integers as strings, enums by name (unknown numbers as numbers),
//    floats as Go's strconv 'g', bytes as standard base64, strings quoted
//    by Go's encoding/json (< > & escaped as \u003c \u003e \u0026).
//  - Two spaces per level; an empty object or list still opens a line:
//    "{\n    \n  }".
//  - Well-known types (Timestamp, Duration, wrappers, Struct, Value,
//    ListValue, Empty, Any) are marshalled by jsonpb itself, whose layout
//    differs: a Struct is indented one level deeper than its field
//    (entries and closing brace alike); an Any whose payload is not a
//    well-known type comes out compact on one line, its top-level keys
//    sorted ("@type" first), because jsonpb re-marshals it through a Go
//    map.
//
// A failed call prints, on stderr, "ERROR:\n  Code: <Go code name>\n
// Message: <message>\n" and, for each detail of the google.rpc.Status
// trailer, "  N)\t<the detail as above>\n" with continuation lines
// indented "    \t" (an ErrorInfo is an Any: one compact line).
//
// grpcurl releases from v1.8.8 on lay out JSON with Go's json.Indent
// instead, which changes empty objects, Struct and Any (and error details)
// but not names, order or values.

#include <memory>
#include <string>
#include <string_view>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "google/rpc/status.pb.h"

namespace cantdo::grpcurl {

// Creates the message a google.protobuf.Any's payload parses into.
class AnyTypes {
 public:
  virtual ~AnyTypes() = default;
  // An empty message of the type `type_url` names ("type.googleapis.com/"
  // and a full name), or nullptr if that type cannot be found (grpcurl
  // then prints the payload as base64 under "@value").
  virtual std::unique_ptr<google::protobuf::Message> New(std::string_view type_url) = 0;
};

// The types of the descriptor pool messages were generated into (tests, and
// anything linked into this binary).
class GeneratedAnyTypes final : public AnyTypes {
 public:
  std::unique_ptr<google::protobuf::Message> New(std::string_view type_url) override;
};

struct FormatOptions {
  // -emit-defaults: unset fields too (zero values, null for unset messages,
  // empty lists and maps; unset members of a oneof stay out).
  bool emit_defaults = false;
};

class GrpcurlFormat {
 public:
  GrpcurlFormat(AnyTypes& types, FormatOptions options) : types_(types), options_(options) {}

  // grpcurl's JSON formatter: the text it prints for one response, without
  // the newline it prints after it. Fails where jsonpb fails (a Duration or
  // Timestamp out of range, an Any whose payload does not parse, a Value
  // with no kind set).
  absl::StatusOr<std::string> Message(const google::protobuf::Message& m) const;

  // grpcurl's PrintStatus for a non-OK status, newlines included.
  std::string Status(const google::rpc::Status& status) const;

  // Go's codes.Code.String(): "PermissionDenied", or "Code(17)".
  static std::string CodeName(int code);

 private:
  AnyTypes& types_;
  FormatOptions options_;
};

}  // namespace cantdo::grpcurl
