#include "authority/parameters.hpp"

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "cantdo/base/canonical_json.hpp"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {

absl::StatusOr<CanonicalParameters> CanonicaliseParameters(const google::protobuf::Struct& parameters) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(parameters, &json).ok()) {
    return InvalidArgument("action.parameters", "cannot be rendered as JSON");
  }
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded()) return InvalidArgument("action.parameters", "cannot be rendered as JSON");
  auto text = CanonicalJson(doc);
  if (!text.ok()) return InvalidArgument("action.parameters", text.status().message());
  return CanonicalParameters{*text, Sha256Hex(*text)};
}

}  // namespace cantdo::authority
