package resolve

import "strconv"

// wrapped is an error with a message of its own that wraps others for
// errors.Is and errors.As, as fmt.Errorf's %w makes one: the package does
// not use fmt, which a plugin would otherwise link.
type wrapped struct {
	msg  string
	errs []error
}

func (e *wrapped) Error() string   { return e.msg }
func (e *wrapped) Unwrap() []error { return e.errs }

// wrapError returns an error saying msg that wraps errs.
func wrapError(msg string, errs ...error) error {
	return &wrapped{msg: msg, errs: errs}
}

// errorf is the part of fmt.Errorf the package uses, without fmt: the
// verbs %s (a string or an error), %q (a string, quoted as
// strconv.Quote does), %d (an int or int64) and %w (an error, which the
// result wraps), and %%. An argument of another type is written as
// %!verb(?), which the package's tests would show.
func errorf(format string, args ...any) error {
	var msg []byte
	var errs []error
	next := 0
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			msg = append(msg, c)
			continue
		}
		i++
		verb := format[i]
		if verb == '%' {
			msg = append(msg, '%')
			continue
		}
		var arg any
		if next < len(args) {
			arg = args[next]
			next++
		}
		switch a := arg.(type) {
		case string:
			switch verb {
			case 's':
				msg = append(msg, a...)
				continue
			case 'q':
				msg = strconv.AppendQuote(msg, a)
				continue
			}
		case int:
			if verb == 'd' {
				msg = strconv.AppendInt(msg, int64(a), 10)
				continue
			}
		case int64:
			if verb == 'd' {
				msg = strconv.AppendInt(msg, a, 10)
				continue
			}
		case error:
			switch verb {
			case 'w':
				errs = append(errs, a)
				fallthrough
			case 's':
				msg = append(msg, a.Error()...)
				continue
			}
		}
		msg = append(msg, '%', '!', verb, '(', '?', ')')
	}
	return &wrapped{msg: string(msg), errs: errs}
}
