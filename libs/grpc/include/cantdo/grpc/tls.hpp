#pragma once
// Transport security. Every port serves TLS; there is no plaintext mode.
// Service-to-service calls use mutual TLS: each service presents a
// certificate whose URI SAN names it (spiffe://cantdo/<service>), signed by
// the deployment's CA. scripts/certs makes such a CA for the dev stack.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/support/client_interceptor.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cantdo::grpc {

// Makes a client interceptor factory for one channel (gRPC takes ownership
// of a channel's factories, so each channel needs its own).
using ClientInterceptorMaker =
    std::function<std::unique_ptr<::grpc::experimental::ClientInterceptorFactoryInterface>()>;

// PEM text of a certificate chain, its private key, and the CA bundle that
// peers' certificates must chain to.
//
// Loaded from files (LoadTlsMaterial), it also carries a watcher of those
// files: servers and channels made from it use whatever the files hold
// now, re-read every reload interval, so a certificate renewed in place
// (cert-manager, a Kubernetes Secret or ConfigMap volume swapping its
// files) or a new CA bundle takes effect without a restart. gRPC keeps the
// previous pair while the new key does not match the new certificate (a
// half-written renewal). New TLS handshakes use the new files; established
// connections keep theirs until they end (--grpc-max-connection-age).
// Built in memory (tests), it is static.
struct TlsMaterial {
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;
  std::shared_ptr<::grpc::experimental::CertificateProviderInterface> files;  // null: static
  // Interceptors every channel made from this material installs, in order
  // (the runtime adds the client metrics, client_metrics.hpp).
  std::vector<ClientInterceptorMaker> client_interceptors;
};

inline constexpr absl::Duration kDefaultTlsReloadInterval = absl::Seconds(60);

// Reads the three PEM files; NOT_FOUND / INVALID_ARGUMENT name the file.
// Then watches them, re-reading every `reload_interval` (whole seconds, at
// least one).
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const std::string& cert_file, const std::string& key_file,
                                            const std::string& ca_file,
                                            absl::Duration reload_interval = kDefaultTlsReloadInterval);

enum class ClientCertPolicy {
  // Internal services: a client without a certificate signed by the CA is
  // refused during the handshake.
  kRequireAndVerify,
  // The public gateway: a certificate is verified if presented; callers
  // may instead authenticate with a bearer token.
  kRequestAndVerify,
};

std::shared_ptr<::grpc::ServerCredentials> MakeServerCredentials(const TlsMaterial& tls, ClientCertPolicy policy);

// Mutual-TLS channel to `target` ("host:port", or "dns:///name:port" to
// balance calls round-robin over every address the name resolves to). The
// server certificate must chain to the CA bundle and match the target's
// host (or `server_name` when given, e.g. the Kubernetes Service name).
std::shared_ptr<::grpc::Channel> MakeMtlsChannel(const std::string& target, const TlsMaterial& tls,
                                                 const std::string& server_name = "");

// TLS channel with no client certificate (for tests of the refusal path and
// for bearer-token callers of the gateway).
std::shared_ptr<::grpc::Channel> MakeTlsChannel(const std::string& target, const std::string& ca_pem,
                                                const std::string& server_name = "");

}  // namespace cantdo::grpc
