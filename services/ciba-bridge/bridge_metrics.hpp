#pragma once
// The ciba-bridge's metrics (docs/operations.md, "Metrics"): its exchanges
// with the identity provider and the authority, counted as they happen, and
// what it still has to do, read from the database when scraped.
//   cantdo_bridge_backchannel_requests_total{result}  accepted, failed
//   cantdo_bridge_token_polls_total                    token requests sent
//   cantdo_bridge_slow_down_total                      slow_down answers
//   cantdo_bridge_provider_errors_total{endpoint, kind}
//       endpoint: discovery, backchannel, token; kind: ProviderErrorKind
//       (discovery failures count as kind "discovery")
//   cantdo_bridge_requests_finished_total{state}
//       APPROVED, DENIED, EXPIRED, LOST, FAILED
//   cantdo_bridge_deliveries_total{result}             delivered, retry, rejected
//   cantdo_bridge_requests_pending, ..._oldest_pending_age_seconds
//   cantdo_bridge_results_undelivered, ..._oldest_undelivered_age_seconds
// Every label value is from a closed set (anything else counts as "other").

#include <string_view>

#include "cantdo/metrics/registry.hpp"
#include "cantdo/pg/pool.hpp"
#include "ciba-bridge/ciba_protocol.hpp"

namespace cantdo::bridge {

class BridgeMetrics {
 public:
  // Registers the counters on `registry`, which must outlive this.
  explicit BridgeMetrics(metrics::Registry& registry);

  // Registers the scrape-time families read through `pool`.
  static void AddCollectors(metrics::Registry& registry, pg::Pool& pool);

  void BackchannelRequest(bool accepted) { (accepted ? accepted_ : failed_).Inc(); }
  void TokenPoll() { polls_.Inc(); }
  void SlowDown() { slow_down_.Inc(); }
  // Counts `answer` if it is a failure (ProviderErrorKind); `kind` instead
  // when given (bad_response for an answer without what it must carry).
  void ProviderAnswered(std::string_view endpoint, const ProviderAnswer& answer, std::string_view kind = {});
  void DiscoveryFailed();
  void Finished(std::string_view state);
  void Delivery(std::string_view result);

 private:
  metrics::Family<metrics::Counter>& backchannel_;
  metrics::Counter& accepted_;
  metrics::Counter& failed_;
  metrics::Counter& polls_;
  metrics::Counter& slow_down_;
  metrics::Family<metrics::Counter>& provider_errors_;
  metrics::Family<metrics::Counter>& finished_;
  metrics::Family<metrics::Counter>& deliveries_;
};

}  // namespace cantdo::bridge
