package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// config is the configuration file of SPEC.md. Its parser is
// workerd-plain's, line for line: the two programs differ in everything
// but this. (The restart delay formula, which workerd-plain writes out,
// is supervise's.)
type config struct {
	command     []string
	greeting    string
	firstDelay  time.Duration // restart_sec
	steps       int           // restart_steps
	maxDelay    time.Duration // restart_max_delay_sec
	stopTimeout time.Duration // timeout_stop_sec
}

func loadConfig(path string) (*config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &config{
		greeting:    "hello",
		firstDelay:  100 * time.Millisecond,
		steps:       4,
		maxDelay:    1600 * time.Millisecond,
		stopTimeout: 2 * time.Second,
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case !ok:
			err = errors.New("no '='")
		case key == "command":
			c.command = strings.Fields(value)
		case key == "greeting":
			c.greeting = value
		case key == "restart_sec":
			c.firstDelay, err = time.ParseDuration(value)
		case key == "restart_steps":
			c.steps, err = strconv.Atoi(value)
		case key == "restart_max_delay_sec":
			c.maxDelay, err = time.ParseDuration(value)
		case key == "timeout_stop_sec":
			c.stopTimeout, err = time.ParseDuration(value)
		default:
			err = fmt.Errorf("unknown key %q", key)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
	}
	switch {
	case len(c.command) == 0:
		return nil, fmt.Errorf("%s: no command", path)
	case c.firstDelay < 0 || c.steps < 0 || c.maxDelay < 0 || c.stopTimeout <= 0:
		return nil, fmt.Errorf("%s: a negative value, or timeout_stop_sec 0", path)
	}
	return c, nil
}
