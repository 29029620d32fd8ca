//go:build race

package main

// raceEnabled makes the tests build the command with the race detector too.
const raceEnabled = true
