package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// config is the configuration file of SPEC.md.
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

// delay is the delay before restart n (from 1), as systemd 254
// computes it from RestartSec=, RestartSteps= and RestartMaxDelaySec=.
func (c *config) delay(n int) time.Duration {
	switch {
	case n <= 1 || c.steps == 0 || c.firstDelay >= c.maxDelay:
		return c.firstDelay
	case n > c.steps:
		return c.maxDelay
	}
	ratio := float64(c.maxDelay) / float64(c.firstDelay)
	return time.Duration(float64(c.firstDelay) * math.Pow(ratio, float64(n-1)/float64(c.steps)))
}
