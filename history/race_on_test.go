//go:build race

package history

// raceEnabled: this test binary was built with -race.
const raceEnabled = true
