package controller_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/brisk-serverless/brisk/loadbalancer"
	"github.com/brisk-serverless/brisk/messaging"
)

func TestInvokersEndpoints(t *testing.T) {
	bal := loadbalancer.New(loadbalancer.Config{Log: quietLogger()})
	e := newEnvWith(t, bal)

	// No invoker known yet: not ready.
	r := e.do(http.MethodGet, "/invokers", "", nil)
	if r.status != http.StatusOK || string(r.body) != "{}" {
		t.Fatalf("GET /invokers with none known: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodGet, "/invokers/ready", "", nil)
	if r.status != http.StatusInternalServerError || string(r.body) != `{"unhealthy":"0/0"}` {
		t.Fatalf("GET /invokers/ready with none known: %d %s", r.status, r.body)
	}

	// invoker1 pings (invoker0 pads the table, down); then its test action
	// succeeds.
	raw, _ := json.Marshal(messaging.NewPingMessage(messaging.NewInvokerInstanceID(1, 2048), true))
	if err := bal.HandlePing(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	r = e.do(http.MethodGet, "/invokers", "", nil)
	if string(r.body) != `{"invoker0":"down","invoker1":"unhealthy"}` {
		t.Fatalf("GET /invokers = %s", r.body)
	}
	ack(t, bal, messaging.NewCompletionAck(messaging.NewTransactionID("sid_invokerHealth", time.Now()), "a1", false,
		messaging.NewInvokerInstanceID(1, 2048)))
	r = e.do(http.MethodGet, "/invokers/", "", nil)
	if string(r.body) != `{"invoker0":"down","invoker1":"up"}` {
		t.Fatalf("GET /invokers/ = %s", r.body)
	}
	r = e.do(http.MethodGet, "/invokers/healthy/count", "", nil)
	if r.status != http.StatusOK || string(r.body) != "1" {
		t.Fatalf("GET /invokers/healthy/count: %d %s", r.status, r.body)
	}
	r = e.do(http.MethodGet, "/invokers/ready", "", nil)
	if r.status != http.StatusInternalServerError || string(r.body) != `{"unhealthy":"1/2"}` {
		t.Fatalf("GET /invokers/ready with 1 of 2 up: %d %s", r.status, r.body)
	}

	// Now invoker0 registers and comes up: ready.
	raw, _ = json.Marshal(messaging.NewPingMessage(messaging.NewInvokerInstanceID(0, 2048), true))
	if err := bal.HandlePing(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	ack(t, bal, messaging.NewCompletionAck(messaging.NewTransactionID("sid_invokerHealth", time.Now()), "a2", false,
		messaging.NewInvokerInstanceID(0, 2048)))
	r = e.do(http.MethodGet, "/invokers/ready", "", nil)
	if r.status != http.StatusOK || string(r.body) != `{"healthy":"2/2"}` {
		t.Fatalf("GET /invokers/ready with 2 of 2 up: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodPost, "/invokers", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /invokers: %d", r.status)
	}
}

func TestInvokersStandalone(t *testing.T) {
	// Standalone's balancer has one invoker, up by construction.
	e := newEnvWith(t, loadbalancer.New(loadbalancer.Config{Static: loadbalancer.StaticInvokers(1), Log: quietLogger()}))
	r := e.do(http.MethodGet, "/invokers", "", nil)
	if string(r.body) != `{"invoker0":"up"}` {
		t.Fatalf("GET /invokers = %s", r.body)
	}
	if r := e.do(http.MethodGet, "/invokers/ready", "", nil); r.status != http.StatusOK || string(r.body) != `{"healthy":"1/1"}` {
		t.Fatalf("GET /invokers/ready = %d %s", r.status, r.body)
	}
}

func TestInvokeAnswers503WhenNoInvokerIsUp(t *testing.T) {
	bal := loadbalancer.New(loadbalancer.Config{Log: quietLogger()})
	e := newEnvWith(t, bal)
	raw, _ := json.Marshal(messaging.NewPingMessage(messaging.NewInvokerInstanceID(0, 2048), false)) // disabled
	if err := bal.HandlePing(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	e.putAction(actionsPath+"noinv", nil)
	wantError(t, e.guest(http.MethodPost, actionsPath+"noinv?blocking=true", map[string]any{}), http.StatusServiceUnavailable,
		"No invokers available: 0 of 1 invokers are up (1 down).")
}

// ack hands a to the balancer as a message of completed0.
func ack(t *testing.T, b *loadbalancer.Balancer, a messaging.AcknowledgementMessage) {
	t.Helper()
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.HandleAck(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
}
