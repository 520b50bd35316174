// Package commands holds what aftermath's commands other than serve do:
// rules check and rules explain, plan, replay, and demo with demo advance.
// Each is one function that cmd/aftermath calls with its parsed flags and
// its output streams. They build what they need through app, which wires
// and runs the server (serve is app.Serve); app never imports them, and Go's
// internal rule keeps every package but cmd/aftermath from doing so.
package commands
