package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// A command is one entry of the command table (see commandTable in main.go):
// its usage block, its flags and what runs it. A command with subcommands
// and no flags of its own is a group (rules); one with both runs itself
// unless its first argument names a subcommand.
type command struct {
	name  string      // as typed after "aftermath": "serve", "rules check"
	usage []usageLine // the Usage lines: one, or one per mode (replay)
	about string      // what it does, in one line
	// maxArgs is how many arguments may follow the flags.
	maxArgs int
	// flags declares the command's flags on fs and returns what runs it
	// once they are parsed; nil for a group.
	flags func(fs *flag.FlagSet) action
	subs  []*command
	// more is printed after the flags: what else the command reads.
	more string
}

// usageLine is one way to call a command; what says what that way does when
// the command has several (else the command's about says it).
type usageLine struct{ syntax, what string }

// An action runs a command whose flags are parsed, and returns the exit code.
type action func(c *call) int

// call is one run of a command: its parsed flags and arguments, and where
// it reads and writes.
type call struct {
	cmd    *command
	fs     *flag.FlagSet
	args   []string // after the flags
	env    map[string]string
	stdout io.Writer
	stderr io.Writer
}

// usageError says what is wrong with the command line, then the command's
// usage block, on stderr; it returns exit code 2.
func (c *call) usageError(format string, a ...any) int {
	return c.cmd.usageError(c.stderr, c.fs, format, a...)
}

func (c *command) title() string { return strings.TrimSpace("aftermath " + c.name) }

// sub returns the subcommand called name, or nil.
func (c *command) sub(name string) *command {
	full := strings.TrimSpace(c.name + " " + name)
	for _, s := range c.subs {
		if s.name == full {
			return s
		}
	}
	return nil
}

// flagSet is the command's flag set with its flags declared, and what runs
// it; both nil for a group.
func (c *command) flagSet() (*flag.FlagSet, action) {
	if c.flags == nil {
		return nil, nil
	}
	fs := flag.NewFlagSet(c.title(), flag.ContinueOnError)
	// The flag package's own messages and usage are replaced by ours.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs, c.flags(fs)
}

// exec runs the command on the arguments after its name. -h or --help
// anywhere before a "--" prints its usage block on stdout instead.
func (c *command) exec(args []string, env map[string]string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if s := c.sub(args[0]); s != nil {
			return s.exec(args[1:], env, stdout, stderr)
		}
	}
	fs, act := c.flagSet()
	if helpAsked(args) {
		c.writeUsage(stdout, fs)
		return 0
	}
	if act == nil {
		if len(args) == 0 {
			return c.usageError(stderr, fs, "want a command")
		}
		return c.usageError(stderr, fs, "unknown command %q", args[0])
	}
	if err := fs.Parse(args); err != nil {
		return c.usageError(stderr, fs, "%v", err)
	}
	if fs.NArg() > c.maxArgs {
		return c.usageError(stderr, fs, "unexpected argument %q", fs.Arg(c.maxArgs))
	}
	return act(&call{cmd: c, fs: fs, args: fs.Args(), env: env, stdout: stdout, stderr: stderr})
}

func (c *command) usageError(stderr io.Writer, fs *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n\n", c.title(), fmt.Sprintf(format, a...))
	c.writeUsage(stderr, fs)
	return 2
}

// helpAsked reports whether args ask for help: -h, -help or --help before
// any "--" (after which everything is an argument).
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// writeUsage prints the command's usage block: the Usage lines, what it
// does, its flags (fs; nil for a group) and its subcommands.
func (c *command) writeUsage(w io.Writer, fs *flag.FlagSet) {
	lines := c.usage
	if len(c.subs) > 0 {
		lines = append(lines[:len(lines):len(lines)], usageLine{syntax: strings.TrimSpace(c.name + " COMMAND [flags]")})
	}
	fmt.Fprintln(w, "Usage:")
	width := 0
	for _, l := range lines {
		width = max(width, len(l.syntax))
	}
	for _, l := range lines {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  aftermath %-*s  %s", width, l.syntax, l.what), " "))
	}
	fmt.Fprintf(w, "\n%s\n", sentence(c.about))
	if fs != nil {
		writeFlags(w, fs)
	}
	if c.more != "" {
		fmt.Fprintf(w, "\n%s\n", c.more)
	}
	if len(c.subs) > 0 {
		fmt.Fprintln(w, "\nCommands:")
		var all []*command
		var walk func(*command)
		walk = func(c *command) {
			for _, s := range c.subs {
				if s.flags != nil {
					all = append(all, s)
				}
				walk(s)
			}
		}
		walk(c)
		width = 0
		for _, s := range all {
			width = max(width, len(c.relative(s)))
		}
		for _, s := range all {
			fmt.Fprintf(w, "  %-*s  %s\n", width, c.relative(s), s.about)
		}
		fmt.Fprintf(w, "\nRun \"%s COMMAND --help\" for a command's usage and flags.\n", c.title())
	}
}

// relative is the name of s, a subcommand of c, as typed after c's.
func (c *command) relative(s *command) string {
	return strings.TrimSpace(strings.TrimPrefix(s.name, c.name))
}

// sentence makes a command's about, written for the Commands list, the
// sentence of its usage block.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// writeFlags prints fs's flags as flag.PrintDefaults does, spelled with the
// two dashes the Usage lines and the README use.
func writeFlags(w io.Writer, fs *flag.FlagSet) {
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintln(w, "\nFlags:")
			first = false
		}
		typ, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if typ != "" {
			head += " " + typ
		}
		switch f.DefValue {
		case "", "0", "0s", "false":
		default:
			if typ == "string" {
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", head, strings.ReplaceAll(usage, "\n", "\n    \t"))
	})
}

// find returns the command path names under root ("rules", "check"), or nil.
func find(root *command, path []string) *command {
	c := root
	for _, name := range path {
		if c = c.sub(name); c == nil {
			return nil
		}
	}
	return c
}
