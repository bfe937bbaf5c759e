#include "ciba-bridge/ping_endpoint.hpp"

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/log.hpp"

namespace cantdo::bridge {

http::Handler MakePingHandler(PgCibaRequestStore& store, CibaEngine& engine) {
  return [&store, &engine](const http::ServerRequest& req) {
    http::Response res;
    res.headers.emplace_back("content-type", "application/json");
    if (req.target != kPingPath) {
      res.status = 404;
      return res;
    }
    if (req.method != "POST") {
      res.status = 405;
      return res;
    }
    const auto auth = req.Header("authorization");
    constexpr absl::string_view kBearer = "Bearer ";
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (!auth || !absl::StartsWithIgnoreCase(*auth, kBearer) || !body.is_object() || !body.contains("auth_req_id") ||
        !body["auth_req_id"].is_string()) {
      res.status = 401;
      res.headers.emplace_back("www-authenticate", "Bearer");
      return res;
    }
    const std::string token = auth->substr(kBearer.size());
    auto matched = store.Notify(body["auth_req_id"].get<std::string>(), Sha256Hex(token));
    if (!matched.ok()) {
      log::Warn("ping notification could not be recorded", {{"error", std::string(matched.status().message())}});
      res.status = 503;
      return res;
    }
    if (!*matched) {
      log::Warn("ping notification refused (unknown request or wrong token)");
      res.status = 401;
      res.headers.emplace_back("www-authenticate", "Bearer");
      return res;
    }
    log::Info("ping notification received");
    engine.Wake();
    res.status = 204;
    return res;
  };
}

}  // namespace cantdo::bridge
