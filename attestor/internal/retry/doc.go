// Package retry is the one retry policy of attestor's HTTP clients: the
// registry transport (store/oci), Grafeas (store/grafeas), Fulcio, Rekor,
// timestamp authorities and the OIDC token endpoints (sign). One
// classifier says which failures are worth a second request (Transient
// for a request that got no answer, Status for an answer), and one
// backoff says how long to wait (Backoff). The clients that can use
// go-retryablehttp do (NewClient, CheckRetry); the registry transport,
// which must also retry a body cut short within the attempt, calls the
// same functions.
//
// A request is retried by one layer only: the clients built here are
// given to libraries with their own retries turned off (sigstore-go's
// Fulcio, Rekor and timestamp clients), and the registry transport marks
// what it has retried so that go-containerregistry does not retry it
// again.
package retry
