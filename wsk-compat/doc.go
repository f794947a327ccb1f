// Package wskcompat is Brisk's end-to-end compatibility suite: it starts a
// real `brisk standalone` process (see package harness) and drives it the way
// OpenWhisk users do, through openwhisk-client-go, raw HTTP, the openwhisk npm
// client and wskdeploy, asserting upstream OpenWhisk's REST behaviour.
//
// The package holds only tests; this file exists for the package comment.
// The test actions live under actions/, the npm client tests under npm/ and
// the wskdeploy manifests and build script under wskdeploy/. README.md says
// how to run each part.
package wskcompat
