package deps

import (
	"context"
	"os/exec"
)

// Command is exec.CommandContext for a program of the list: the only way
// the repository's Go code runs another program (TestExecOnlyThroughDeps
// forbids the others). For a program the list does not cover, the command
// fails to start with an error naming it and ErrUnlisted, so a new test
// that runs an unlisted program fails the first time it runs.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	if err := Check(name); err != nil {
		cmd.Err = err
	}
	return cmd
}

// LookPath is exec.LookPath for a program of the list.
func LookPath(name string) (string, error) {
	if err := Check(name); err != nil {
		return "", err
	}
	return exec.LookPath(name)
}
