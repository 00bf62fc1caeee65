package main

import (
	"fmt"
	"io"

	"panoptes/internal/cli"
	"panoptes/internal/clidoc"
	"panoptes/internal/completion"
	"panoptes/record"
)

// completeCommand is the hidden command the completion scripts run: `panoptes
// __complete WORD...` prints the candidates for the last word.
const completeCommand = "__complete"

// completionMain is `panoptes completion bash|zsh|fish`.
func completionMain(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "panoptes completion: want one shell: bash, zsh or fish")
		return cli.ExitUsage
	}
	s, err := completion.Script(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "panoptes completion: %v\n", err)
		return cli.ExitUsage
	}
	io.WriteString(stdout, s)
	return cli.ExitOK
}

func complete(args []string, stdout, _ io.Writer) int {
	src := completion.Source{
		Describe: func(name string) (clidoc.Command, bool) {
			c, err := describe(name)
			return c, err == nil
		},
		Words:  map[string][]string{"bench": {"loss"}, "index": {"rebuild", "verify"}},
		Topics: []completion.Entry{{Name: "filter", Summary: "the filter language"}},
		Shells: completion.Shells,
	}
	for _, n := range names() {
		src.Commands = append(src.Commands, completion.Entry{Name: n, Summary: commands[n].summary})
	}
	for _, b := range builtins {
		src.Commands = append(src.Commands, completion.Entry{Name: b.name, Summary: b.summary})
	}
	for _, f := range record.Registry {
		src.Fields = append(src.Fields, completion.Entry{Name: f.Name, Summary: f.Label})
	}
	completion.Write(stdout, completion.Complete(src, args))
	return cli.ExitOK
}
