package messaging

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// AckKind tells the three acknowledgement messages apart (upstream's Result, Completion and Combined).
type AckKind int

const (
	// AckResult carries the result of a blocking activation right after the
	// run, before logs are collected; it does not free the invoker's slot.
	AckResult AckKind = iota + 1
	// AckCompletion frees the invoker's slot once logs are collected.
	AckCompletion
	// AckCombined is a result and a completion at once.
	AckCombined
)

// String returns upstream's name for the kind: result, completion, combined.
func (k AckKind) String() string {
	switch k {
	case AckResult:
		return "result"
	case AckCompletion:
		return "completion"
	case AckCombined:
		return "combined"
	default:
		return fmt.Sprintf("AckKind(%d)", int(k))
	}
}

// AcknowledgementMessage is what an invoker publishes on completed<C>. Build
// one with [NewCombinedAck], [NewResultAck] or [NewCompletionAck], and read
// one with [ParseAcknowledgement].
type AcknowledgementMessage struct {
	Kind    AckKind
	TransID TransactionID
	// Activation is the full activation record (the stored WhiskActivation
	// form) for Result and Combined acks; nil when the ack is shrunk to the
	// activation id, and for Completion acks.
	Activation json.RawMessage
	// ActivationID is always set: for a full activation it is the record's
	// activationId.
	ActivationID string
	// IsSystemError and Instance are meaningful for Completion and Combined.
	IsSystemError bool
	Instance      InvokerInstanceID
}

// NewCombinedAck returns a Combined ack carrying the full activation record,
// which must be a JSON object with an "activationId" field.
func NewCombinedAck(tid TransactionID, activation json.RawMessage, isSystemError bool, invoker InvokerInstanceID) (AcknowledgementMessage, error) {
	id, err := activationIDOf(activation)
	if err != nil {
		return AcknowledgementMessage{}, err
	}
	return AcknowledgementMessage{Kind: AckCombined, TransID: tid, Activation: activation, ActivationID: id,
		IsSystemError: isSystemError, Instance: invoker}, nil
}

// NewResultAck returns a Result ack carrying the full activation record,
// which must be a JSON object with an "activationId" field.
func NewResultAck(tid TransactionID, activation json.RawMessage) (AcknowledgementMessage, error) {
	id, err := activationIDOf(activation)
	if err != nil {
		return AcknowledgementMessage{}, err
	}
	return AcknowledgementMessage{Kind: AckResult, TransID: tid, Activation: activation, ActivationID: id}, nil
}

// NewCompletionAck returns a Completion ack for activationID.
func NewCompletionAck(tid TransactionID, activationID string, isSystemError bool, invoker InvokerInstanceID) AcknowledgementMessage {
	return AcknowledgementMessage{Kind: AckCompletion, TransID: tid, ActivationID: activationID,
		IsSystemError: isSystemError, Instance: invoker}
}

// Shrink returns the ack with the activation record replaced by its id, as
// upstream sends for non-blocking activations and when the full form is too
// large for the topic.
func (a AcknowledgementMessage) Shrink() AcknowledgementMessage {
	a.Activation = nil
	return a
}

// Shrunk reports whether a Result or Combined ack carries only the id.
func (a AcknowledgementMessage) Shrunk() bool {
	return a.Kind != AckCompletion && a.Activation == nil
}

// FreesSlot reports whether the ack releases the invoker's slot.
func (a AcknowledgementMessage) FreesSlot() bool {
	return a.Kind == AckCompletion || a.Kind == AckCombined
}

// MarshalJSON writes the kind's upstream fields:
//
//	Combined:   {"transid","response","isSystemError","instance"}
//	Result:     {"transid","response"}
//	Completion: {"transid","activationId","isSystemError","instance"}
//
// response is the activation object, or the activation id string if shrunk.
func (a AcknowledgementMessage) MarshalJSON() ([]byte, error) {
	var response json.RawMessage
	if a.Kind == AckResult || a.Kind == AckCombined {
		if isJSONNull(a.Activation) {
			id, err := json.Marshal(a.ActivationID)
			if err != nil {
				return nil, fmt.Errorf("ack %s: %w", a.ActivationID, err)
			}
			response = id
		} else {
			response = a.Activation
		}
	}
	switch a.Kind {
	case AckCombined:
		return json.Marshal(struct {
			TransID       TransactionID     `json:"transid"`
			Response      json.RawMessage   `json:"response"`
			IsSystemError bool              `json:"isSystemError"`
			Instance      InvokerInstanceID `json:"instance"`
		}{a.TransID, response, a.IsSystemError, a.Instance})
	case AckResult:
		return json.Marshal(struct {
			TransID  TransactionID   `json:"transid"`
			Response json.RawMessage `json:"response"`
		}{a.TransID, response})
	case AckCompletion:
		return json.Marshal(struct {
			TransID       TransactionID     `json:"transid"`
			ActivationID  string            `json:"activationId"`
			IsSystemError bool              `json:"isSystemError"`
			Instance      InvokerInstanceID `json:"instance"`
		}{a.TransID, a.ActivationID, a.IsSystemError, a.Instance})
	default:
		return nil, fmt.Errorf("ack %s: %w: unknown kind %d", a.ActivationID, ErrMalformed, a.Kind)
	}
}

// UnmarshalJSON parses by upstream's rule: "instance" and "response" make a
// Combined ack, "instance" alone a Completion ack, anything else a Result ack.
func (a *AcknowledgementMessage) UnmarshalJSON(data []byte) error {
	var f struct {
		TransID       TransactionID      `json:"transid"`
		Response      json.RawMessage    `json:"response"`
		ActivationID  *string            `json:"activationId"`
		IsSystemError *bool              `json:"isSystemError"`
		Instance      *InvokerInstanceID `json:"instance"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("ack: %w: %w", ErrMalformed, err)
	}
	out := AcknowledgementMessage{TransID: f.TransID}
	if f.IsSystemError != nil {
		out.IsSystemError = *f.IsSystemError
	}
	hasResponse := f.Response != nil
	switch {
	case f.Instance != nil && hasResponse:
		out.Kind = AckCombined
	case f.Instance != nil:
		out.Kind = AckCompletion
	default:
		out.Kind = AckResult
	}
	if f.Instance != nil {
		out.Instance = *f.Instance
	}
	if out.Kind == AckCompletion {
		if f.ActivationID == nil || *f.ActivationID == "" {
			return fmt.Errorf("completion ack: %w: no activationId", ErrMalformed)
		}
		out.ActivationID = *f.ActivationID
		*a = out
		return nil
	}
	resp := bytes.TrimSpace(f.Response)
	switch {
	case len(resp) > 0 && resp[0] == '"':
		if err := json.Unmarshal(resp, &out.ActivationID); err != nil {
			return fmt.Errorf("%s ack: %w: %w", out.Kind, ErrMalformed, err)
		}
	case len(resp) > 0 && resp[0] == '{':
		id, err := activationIDOf(resp)
		if err != nil {
			return fmt.Errorf("%s ack: %w", out.Kind, err)
		}
		out.Activation, out.ActivationID = json.RawMessage(resp), id
	default:
		return fmt.Errorf("%s ack: %w: response must be an activation object or id string", out.Kind, ErrMalformed)
	}
	*a = out
	return nil
}

// ParseAcknowledgement decodes an acknowledgement by upstream's rule.
func ParseAcknowledgement(data []byte) (AcknowledgementMessage, error) {
	var a AcknowledgementMessage
	// Called directly rather than through json.Unmarshal, which would scan
	// the whole (up to 1 MB) message once more before calling it.
	if err := a.UnmarshalJSON(data); err != nil {
		return AcknowledgementMessage{}, err
	}
	return a, nil
}

func activationIDOf(activation json.RawMessage) (string, error) {
	var rec struct {
		ActivationID string `json:"activationId"`
	}
	if err := json.Unmarshal(activation, &rec); err != nil {
		return "", fmt.Errorf("activation record: %w: %w", ErrMalformed, err)
	}
	if rec.ActivationID == "" {
		return "", fmt.Errorf("activation record: %w: no activationId", ErrMalformed)
	}
	return rec.ActivationID, nil
}
