#include "cantdo/fields/parameters.hpp"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cantdo/base/canonical_json.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::fields {
namespace {

using google::protobuf::Value;

absl::Status Refuse(absl::string_view field, const std::string& pointer, absl::string_view what) {
  return WithMetadata(InvalidArgument(field, absl::StrCat(field, " ", pointer.empty() ? "" : pointer + " ", what)),
                      "parameter", pointer);
}

// RFC 6901: "~" as "~0", "/" as "~1".
std::string PointerToken(const std::string& name) { return absl::StrReplaceAll(name, {{"~", "~0"}, {"/", "~1"}}); }

absl::StatusOr<nlohmann::json> ToJson(const Value& v, absl::string_view field, const std::string& pointer, int depth);

absl::StatusOr<nlohmann::json> ObjectToJson(const google::protobuf::Struct& s, absl::string_view field,
                                            const std::string& pointer, int depth) {
  if (depth > kMaxParameterDepth)
    return Refuse(field, pointer, absl::StrCat("nests deeper than ", kMaxParameterDepth, " levels"));
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : s.fields()) {
    CANTDO_ASSIGN_OR_RETURN(out[name], ToJson(value, field, absl::StrCat(pointer, "/", PointerToken(name)), depth));
  }
  return out;
}

absl::StatusOr<nlohmann::json> ToJson(const Value& v, absl::string_view field, const std::string& pointer, int depth) {
  switch (v.kind_case()) {
    case Value::kNullValue:
      return nlohmann::json(nullptr);
    case Value::kBoolValue:
      return nlohmann::json(v.bool_value());
    case Value::kStringValue:
      return nlohmann::json(v.string_value());
    case Value::kNumberValue:
      if (!std::isfinite(v.number_value()))
        return Refuse(field, pointer, "is NaN or infinite, which JSON cannot carry");
      return nlohmann::json(v.number_value());
    case Value::kStructValue:
      return ObjectToJson(v.struct_value(), field, pointer, depth + 1);
    case Value::kListValue: {
      if (depth + 1 > kMaxParameterDepth) {
        return Refuse(field, pointer, absl::StrCat("nests deeper than ", kMaxParameterDepth, " levels"));
      }
      nlohmann::json out = nlohmann::json::array();
      const auto& values = v.list_value().values();
      for (int i = 0; i < values.size(); ++i) {
        CANTDO_ASSIGN_OR_RETURN(nlohmann::json e, ToJson(values[i], field, absl::StrCat(pointer, "/", i), depth + 1));
        out.push_back(std::move(e));
      }
      return out;
    }
    case Value::KIND_NOT_SET:
      break;
  }
  return Refuse(field, pointer, "has no value");
}

}  // namespace

absl::StatusOr<nlohmann::json> ParametersJson(const google::protobuf::Struct& parameters, absl::string_view field) {
  return ObjectToJson(parameters, field, "", 1);
}

absl::StatusOr<CanonicalParameters> CanonicaliseParameters(const google::protobuf::Struct& parameters,
                                                           absl::string_view field) {
  CANTDO_ASSIGN_OR_RETURN(nlohmann::json doc, ParametersJson(parameters, field));
  absl::StatusOr<std::string> text = CanonicalJson(doc);
  // ParametersJson holds nothing JSON cannot carry; this would be a bug.
  if (!text.ok()) return absl::InternalError(absl::StrCat(field, ": ", text.status().message()));
  if (text->size() > kMaxParameterBytes) {
    return InvalidArgument(
        field, absl::StrCat(field, " is larger than ", kMaxParameterBytes / 1024, " KiB as canonical JSON"));
  }
  std::string sha = Sha256Hex(*text);
  return CanonicalParameters{*std::move(text), std::move(sha)};
}

}  // namespace cantdo::fields
