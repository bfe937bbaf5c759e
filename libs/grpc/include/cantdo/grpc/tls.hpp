#pragma once
// Transport security. Every port serves TLS; there is no plaintext mode.
// Service-to-service calls use mutual TLS: each service presents a
// certificate whose URI SAN names it (spiffe://cantdo/<service>), signed by
// the deployment's CA. scripts/certs makes such a CA for the dev stack.

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"

namespace cantdo::grpc {

// PEM text of a certificate chain, its private key, and the CA bundle that
// peers' certificates must chain to.
struct TlsMaterial {
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;
};

// Reads the three PEM files; NOT_FOUND / INVALID_ARGUMENT name the file.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const std::string& cert_file,
                                            const std::string& key_file,
                                            const std::string& ca_file);

enum class ClientCertPolicy {
  // Internal services: a client without a certificate signed by the CA is
  // refused during the handshake.
  kRequireAndVerify,
  // The public gateway: a certificate is verified if presented; callers
  // may instead authenticate with a bearer token.
  kRequestAndVerify,
};

std::shared_ptr<::grpc::ServerCredentials> MakeServerCredentials(const TlsMaterial& tls,
                                                                 ClientCertPolicy policy);

// Mutual-TLS channel to `target` ("host:port"). The server certificate must
// chain to tls.ca_pem and match the target's host (or `server_name` when
// given, e.g. the Kubernetes Service name behind a load balancer address).
std::shared_ptr<::grpc::Channel> MakeMtlsChannel(const std::string& target, const TlsMaterial& tls,
                                                 const std::string& server_name = "");

// TLS channel with no client certificate (for tests of the refusal path and
// for bearer-token callers of the gateway).
std::shared_ptr<::grpc::Channel> MakeTlsChannel(const std::string& target, const std::string& ca_pem,
                                                const std::string& server_name = "");

}  // namespace cantdo::grpc
