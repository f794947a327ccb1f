package controller_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestHostileJSONIsA400(t *testing.T) {
	e := newInvokeEnv(t)
	e.putAction(actionsPath+"deep", nil)
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	wantError(t, e.guest(http.MethodPost, actionsPath+"deep?blocking=true", deep), http.StatusBadRequest,
		"The request content was malformed:\nthe JSON nests deeper than 1000 levels")
	wantError(t, e.guest(http.MethodPut, "/api/v1/namespaces/_/triggers/t", `{"parameters":[{"key":"n","value":1e999999}]}`),
		http.StatusBadRequest, "The request content was malformed:\nthe number 1e999999 is out of range")
}
