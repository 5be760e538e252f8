// Package batch is what both stores do alike with the events of one group
// commit, around their own SQL: the events of every call in one list, which
// of them repeat an idempotency key used earlier in the group, and the
// answers (fresh events, duplicates) handed back to each call.
package batch

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/vitalsdev/vitals/storage"
	"github.com/vitalsdev/vitals/storage/internal/group"
)

// Batch is a group's events, call after call.
type Batch struct {
	Calls  []*group.Call
	Events []storage.NewEvent
	// first[i] is the index of the first event of the batch with event
	// i's idempotency key; i itself when there is none earlier or event
	// i has no key.
	first []int
	keys  []string
}

// New gathers the events of calls.
func New(calls []*group.Call) *Batch {
	b := &Batch{Calls: calls}
	for _, c := range calls {
		b.Events = append(b.Events, c.Events...)
	}
	b.first = make([]int, len(b.Events))
	firstOf := map[string]int{}
	for i, e := range b.Events {
		b.first[i] = i
		k := e.IdempotencyKey
		if k == "" {
			continue
		}
		if j, ok := firstOf[k]; ok {
			b.first[i] = j
			continue
		}
		firstOf[k] = i
		b.keys = append(b.keys, k)
	}
	return b
}

// Keys are the batch's distinct idempotency keys, in order of first use.
func (b *Batch) Keys() []string { return b.keys }

// Repeats reports whether event i repeats the key of an earlier event of
// the batch: it is never inserted, and Finish answers it with that event.
func (b *Batch) Repeats(i int) bool { return b.first[i] != i }

// Finish answers each repeat with a copy of the answer to the event that
// first used its key, marked Duplicate, and hands every call its part of
// out (one answer per event of the batch, in order).
func (b *Batch) Finish(out []storage.Event) {
	for i, j := range b.first {
		if j != i {
			out[i] = out[j]
			out[i].UserEmail = cloneString(out[j].UserEmail)
			out[i].Details = slices.Clone(out[j].Details)
			out[i].Duplicate = true
		}
	}
	for _, c := range b.Calls {
		c.Out, out = out[:len(c.Events):len(c.Events)], out[len(c.Events):]
	}
}

// Fresh is the answer for e, stored now with id and createdAt (at the
// backend's precision).
func Fresh(e storage.NewEvent, id int64, createdAt time.Time) storage.Event {
	return storage.Event{
		ID:        id,
		Type:      e.Type,
		Message:   e.Message,
		UserEmail: cloneString(e.UserEmail),
		Details:   CloneDetails(e.Details),
		Source:    Source(e),
		CreatedAt: createdAt,
	}
}

// DuplicateOf is the answer for sent, whose key stored st: the stored
// event, or once retention pruned it (st.Type empty), sent with st's id and
// created_at.
func DuplicateOf(st storage.Event, sent storage.NewEvent) storage.Event {
	if st.Type == "" {
		st.Type, st.Message, st.Source = sent.Type, sent.Message, Source(sent)
		st.UserEmail, st.Details = cloneString(sent.UserEmail), CloneDetails(sent.Details)
	}
	st.Duplicate = true
	return st
}

// Source is the source e is stored with: storage.SourceApp unless set.
func Source(e storage.NewEvent) string {
	if e.Source == "" {
		return storage.SourceApp
	}
	return e.Source
}

// CloneDetails copies details, which may alias a request buffer the caller
// reuses, and normalises JSON null to nil.
func CloneDetails(d json.RawMessage) json.RawMessage {
	if storage.IsNullDetails(d) {
		return nil
	}
	return slices.Clone(d)
}

func cloneString(p *string) *string {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
