// Package e2e drives the real vitals binary with a real Chromium: sign-in,
// the live cards, the activity feed, the two languages and the faults an
// admin would see (its tests are the package; it has no code of its own).
package e2e
