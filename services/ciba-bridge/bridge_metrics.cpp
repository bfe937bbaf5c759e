#include "ciba-bridge/bridge_metrics.hpp"

#include "cantdo/base/status.hpp"
#include "cantdo/runtime/database_collector.hpp"
#include "ciba-bridge/ciba_request_store.hpp"

namespace cantdo::bridge {
namespace {

using metrics::CollectedFamily;
using metrics::MetricType;

constexpr std::string_view kOther = "other";
constexpr std::string_view kEndpoints[] = {"discovery", "backchannel", "token"};
constexpr std::string_view kErrorKinds[] = {"transport",    "http_5xx",      "rate_limited",  "http_4xx",
                                            "bad_response", "configuration", "invalid_grant", "oauth_error"};
constexpr std::string_view kStates[] = {"APPROVED", "DENIED", "EXPIRED", "LOST", "FAILED"};
constexpr std::string_view kDeliveryResults[] = {"delivered", "retry", "rejected"};

template <size_t N>
std::string_view OneOf(std::string_view v, const std::string_view (&set)[N]) {
  for (std::string_view s : set) {
    if (s == v) return s;
  }
  return kOther;
}

}  // namespace

BridgeMetrics::BridgeMetrics(metrics::Registry& r)
    : backchannel_(r.AddCounterFamily("cantdo_bridge_backchannel_requests_total",
                                      "Backchannel authentication requests sent to the identity provider, by result "
                                      "(accepted, failed).",
                                      {"result"})),
      accepted_(backchannel_.Labels({"accepted"})),
      failed_(backchannel_.Labels({"failed"})),
      polls_(r.AddCounter("cantdo_bridge_token_polls_total", "Token requests (polls) sent to the identity provider.")),
      slow_down_(r.AddCounter("cantdo_bridge_slow_down_total", "Polls the identity provider answered slow_down.")),
      provider_errors_(r.AddCounterFamily("cantdo_bridge_provider_errors_total",
                                          "Failed exchanges with the identity provider, by endpoint (discovery, "
                                          "backchannel, token) and kind.",
                                          {"endpoint", "kind"})),
      finished_(r.AddCounterFamily("cantdo_bridge_requests_finished_total",
                                   "CIBA requests the provider ended, by final state (APPROVED, DENIED, EXPIRED, "
                                   "LOST, FAILED).",
                                   {"state"})),
      deliveries_(r.AddCounterFamily("cantdo_bridge_deliveries_total",
                                     "Attempts to deliver a result to the authority, by result (delivered, retry, "
                                     "rejected).",
                                     {"result"})) {
  for (std::string_view e : {"backchannel", "token"}) {
    for (std::string_view k : kErrorKinds) provider_errors_.Labels({e, k});
  }
  provider_errors_.Labels({"discovery", "discovery"});
  for (std::string_view s : kStates) finished_.Labels({s});
  for (std::string_view d : kDeliveryResults) deliveries_.Labels({d});
}

void BridgeMetrics::ProviderAnswered(std::string_view endpoint, const ProviderAnswer& answer, std::string_view kind) {
  const absl::string_view computed = ProviderErrorKind(answer);
  if (kind.empty()) kind = std::string_view(computed.data(), computed.size());
  if (kind.empty()) return;
  provider_errors_.Labels({OneOf(endpoint, kEndpoints), OneOf(kind, kErrorKinds)}).Inc();
}

void BridgeMetrics::DiscoveryFailed() { provider_errors_.Labels({"discovery", "discovery"}).Inc(); }

void BridgeMetrics::Finished(std::string_view state) { finished_.Labels({OneOf(state, kStates)}).Inc(); }

void BridgeMetrics::Delivery(std::string_view result) { deliveries_.Labels({OneOf(result, kDeliveryResults)}).Inc(); }

void BridgeMetrics::AddCollectors(metrics::Registry& registry, pg::Pool& pool) {
  runtime::AddDatabaseCollector(
      registry, pool, "ciba-bridge", [](pg::Connection& tx, std::vector<CollectedFamily>& out) -> absl::Status {
        CANTDO_ASSIGN_OR_RETURN(CibaBacklog b, PgCibaRequestStore::ReadBacklog(tx));
        auto gauge = [&](const char* name, const char* help, double v) {
          out.push_back(CollectedFamily{name, help, MetricType::kGauge, {}, {}}.Add({}, v));
        };
        gauge("cantdo_bridge_requests_pending", "CIBA requests the identity provider has not ended yet.",
              static_cast<double>(b.pending));
        gauge("cantdo_bridge_requests_oldest_pending_age_seconds",
              "Age of the oldest CIBA request not ended yet; 0 when none.", b.oldest_pending_age_seconds);
        gauge("cantdo_bridge_results_undelivered", "Results the authority has not acknowledged yet.",
              static_cast<double>(b.undelivered));
        gauge("cantdo_bridge_results_oldest_undelivered_age_seconds",
              "Time since the oldest unacknowledged result was received; 0 when none.",
              b.oldest_undelivered_age_seconds);
        return absl::OkStatus();
      });
}

}  // namespace cantdo::bridge
