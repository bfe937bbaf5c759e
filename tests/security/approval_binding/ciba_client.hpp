#pragma once
// What a compromised bridge can do at the identity provider with the
// bridge's own client credentials: start a CIBA request of its choosing,
// and collect the approver's ID token once the approver says yes. The
// attacks then deliver that token for an approval it was not obtained for.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"

#include "cantdo/http/form.hpp"
#include "cantdo/http/https_client.hpp"
#include "support/dev_idp.hpp"

namespace cantdo::securitytest {

class RogueCibaClient {
 public:
  explicit RogueCibaClient(const cantdo::testing::DevIdp& idp) : idp_(idp) {
    http::ClientOptions o;
    o.ca_file = idp.ca_file();
    auto c = http::HttpsClient::Create(o);
    REQUIRE(c.ok());
    client_ = *std::move(c);
  }

  // Starts a backchannel request to `subject` showing `binding_message`;
  // returns its auth_req_id.
  std::string Start(const std::string& subject, const std::string& binding_message) {
    nlohmann::json j = Post("/backchannel", {{"scope", "openid"},
                                             {"login_hint", subject},
                                             {"binding_message", binding_message},
                                             {"requested_expiry", "300"}});
    REQUIRE(j.contains("auth_req_id"));
    return j.at("auth_req_id").get<std::string>();
  }

  // The ID token for an approved request (one poll).
  std::string IdToken(const std::string& auth_req_id) {
    nlohmann::json j =
        Post("/token", {{"grant_type", "urn:openid:params:grant-type:ciba"}, {"auth_req_id", auth_req_id}});
    INFO(j.dump());
    REQUIRE(j.contains("id_token"));
    return j.at("id_token").get<std::string>();
  }

  // Start, approve on the approver's device, collect the token.
  std::string ApprovedToken(const std::string& subject, const std::string& binding_message) {
    const std::string id = Start(subject, binding_message);
    idp_.Device("POST", "/requests/" + id + "/approve");
    return IdToken(id);
  }

 private:
  nlohmann::json Post(const std::string& path, const std::vector<std::pair<std::string, std::string>>& form) {
    http::Request r;
    r.method = "POST";
    r.url = idp_.issuer() + path;
    r.headers = {{"content-type", "application/x-www-form-urlencoded"},
                 {"authorization", http::BasicAuthorization("cantdo-ciba-bridge", cantdo::testing::DevIdp::kSecret)}};
    r.body = http::FormEncode(form);
    auto res = client_->Send(r);
    INFO(res.status().ToString());
    REQUIRE(res.ok());
    INFO(res->body);
    return nlohmann::json::parse(res->body);
  }

  const cantdo::testing::DevIdp& idp_;
  std::unique_ptr<http::HttpsClient> client_;
};

// The payload of a compact JWS, decoded (for checking what tokens carry).
inline nlohmann::json JwtClaims(const std::string& jwt) {
  const auto first = jwt.find('.');
  const auto second = jwt.find('.', first + 1);
  std::string b64 = jwt.substr(first + 1, second - first - 1);
  for (char& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (b64.size() % 4 != 0) b64.push_back('=');
  std::string out;
  REQUIRE(absl::Base64Unescape(b64, &out));
  return nlohmann::json::parse(out);
}

}  // namespace cantdo::securitytest
