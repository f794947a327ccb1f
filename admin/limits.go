package admin

import (
	"context"
	"errors"

	"github.com/brisk-serverless/brisk/messaging"
	"github.com/brisk-serverless/brisk/store"
)

// LimitField is one limit of a [store.Limits]: its name in the limits
// document (and wskadmin's option), and a pointer to its field, one of
// **int, **bool, **string or *[]string (nil or unset: the system's value).
type LimitField struct {
	Name  string
	Field any
}

// LimitFields are the limits of l, in wskadmin's order (the order it
// prints them in).
func LimitFields(l *store.Limits) []LimitField {
	return []LimitField{
		{"invocationsPerMinute", &l.InvocationsPerMinute},
		{"firesPerMinute", &l.FiresPerMinute},
		{"concurrentInvocations", &l.ConcurrentInvocations},
		{"allowedKinds", &l.AllowedKinds},
		{"storeActivations", &l.StoreActivations},
		{"minActionMemory", &l.MinActionMemory},
		{"maxActionMemory", &l.MaxActionMemory},
		{"minActionLogs", &l.MinActionLogs},
		{"maxActionLogs", &l.MaxActionLogs},
		{"minActionTimeout", &l.MinActionTimeout},
		{"maxActionTimeout", &l.MaxActionTimeout},
		{"minActionConcurrency", &l.MinActionConcurrency},
		{"maxActionConcurrency", &l.MaxActionConcurrency},
		{"maxParameterSize", &l.MaxParameterSize},
		{"maxPayloadSize", &l.MaxPayloadSize},
		{"truncationSize", &l.TruncationSize},
	}
}

// mergeLimits sets in dst the limits set in src, and reports the first
// invalid one.
func mergeLimits(dst *store.Limits, src store.Limits) error {
	to := LimitFields(dst)
	for i, from := range LimitFields(&src) {
		switch p := from.Field.(type) {
		case **int:
			if *p == nil {
				continue
			}
			if **p < 0 {
				return invalid("--%s: want a non-negative integer, got %d", from.Name, **p)
			}
			n := **p
			*to[i].Field.(**int) = &n
		case **bool:
			if *p != nil {
				b := **p
				*to[i].Field.(**bool) = &b
			}
		case **string:
			if *p != nil {
				v := **p
				*to[i].Field.(**string) = &v
			}
		case *[]string:
			if *p == nil {
				continue
			}
			if len(*p) == 0 {
				return invalid("--%s: want one or more kinds", from.Name)
			}
			*to[i].Field.(*[]string) = append([]string(nil), *p...)
		}
	}
	return nil
}

// SetLimits sets the limits given in req.Limits for req.Namespace, keeping
// those it does not set, as wskadmin does.
func (s *Service) SetLimits(ctx context.Context, req SetLimitsRequest) error {
	const op = "set limits"
	if err := CheckNamespace(req.Namespace); err != nil {
		return err
	}
	// Check the values before reading the store.
	if err := mergeLimits(&store.Limits{}, req.Limits); err != nil {
		return err
	}
	l, err := s.store.GetLimits(ctx, req.Namespace)
	switch {
	case errors.Is(err, store.ErrNotFound):
		l = &store.Limits{}
	case err != nil:
		return storeErr(op, err)
	}
	if err := mergeLimits(l, req.Limits); err != nil {
		return err
	}
	if _, err := s.store.PutLimits(ctx, req.Namespace, *l); err != nil {
		return storeErr(op, err)
	}
	s.announce(messaging.LimitsCacheKey(req.Namespace))
	return nil
}

// GetLimits reads the limits of a namespace; ErrNotFound when it has none
// (the system's apply).
func (s *Service) GetLimits(ctx context.Context, namespace string) (store.Limits, error) {
	l, err := s.store.GetLimits(ctx, namespace)
	if err != nil {
		return store.Limits{}, storeErr("get limits", err)
	}
	return *l, nil
}

// DeleteLimits deletes the limits of a namespace; ErrNotFound when it has
// none.
func (s *Service) DeleteLimits(ctx context.Context, namespace string) error {
	const op = "delete limits"
	l, err := s.store.GetLimits(ctx, namespace)
	if err != nil {
		return storeErr(op, err)
	}
	if err := s.store.DeleteLimits(ctx, namespace, l.Rev); err != nil {
		return storeErr(op, err)
	}
	s.announce(messaging.LimitsCacheKey(namespace))
	return nil
}
