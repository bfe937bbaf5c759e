#pragma once
// CibaEngine: the bridge's background work. Discovers the provider (retrying
// until it answers), then runs `workers` threads that lease due requests
// from Postgres and, per request, (re)send the backchannel authentication
// request, poll the token endpoint per the CIBA rules, or deliver a result
// to the authority until it is acknowledged. All progress is in the
// database, so a restarted bridge, or another replica, carries on.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ciba-bridge/authority_notifier.hpp"
#include "ciba-bridge/bridge_metrics.hpp"
#include "ciba-bridge/bridge_config.hpp"
#include "ciba-bridge/ciba_client.hpp"
#include "ciba-bridge/ciba_request_store.hpp"

namespace cantdo::bridge {

class CibaEngine {
 public:
  // All references must outlive the engine. `owner` names this replica in
  // leases. Exchanges with the provider and the authority are counted in
  // `metrics`.
  CibaEngine(const BridgeConfig& config, PgCibaRequestStore& store, const CibaClient& client,
             AuthorityNotifier& authority, std::string owner, BridgeMetrics& metrics);
  ~CibaEngine();  // Stop()

  void Start();
  // Stops the threads; leases they hold expire on their own.
  void Stop();
  // Makes idle workers look for due work now (after a ping, a new result).
  void Wake();

  // OK once discovery succeeded; UNAVAILABLE (DEPENDENCY_UNAVAILABLE) before.
  absl::Status Ready() const;
  std::optional<ProviderMetadata> provider() const;

  // Sends a request the caller just created (leased to owner()). Returns the
  // row after the provider's answer, or the error the RPC must report (the
  // row records it; a transport failure leaves it PENDING for the workers).
  absl::StatusOr<CibaRequestRow> SendNew(const CibaRequestRow& row);

  const std::string& owner() const { return owner_; }
  // How long a lease covers one step (longer than any HTTP exchange).
  absl::Duration lease() const;

 private:
  void DiscoveryLoop();
  void WorkLoop();
  void Process(const CibaRequestRow& row);
  absl::StatusOr<CibaRequestRow> Send(const CibaRequestRow& row, bool from_rpc);
  void Poll(const CibaRequestRow& row);
  void Deliver(const CibaRequestRow& row);
  // Sleeps up to `d` or until woken/stopped. Returns false when stopping.
  bool Sleep(absl::Duration d);

  const BridgeConfig& config_;
  PgCibaRequestStore& store_;
  const CibaClient& client_;
  AuthorityNotifier& authority_;
  const std::string owner_;
  BridgeMetrics& metrics_;

  mutable absl::Mutex mu_;
  std::optional<ProviderMetadata> provider_ ABSL_GUARDED_BY(mu_);
  std::string discovery_problem_ ABSL_GUARDED_BY(mu_) = "discovery has not run yet";
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t wakeups_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

}  // namespace cantdo::bridge
