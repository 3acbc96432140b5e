package shell

import (
	"errors"
	"strings"
)

var (
	errUnterminated = errors.New("unterminated quote")
	// errOperator: the line was written for a POSIX shell. Quoting the character makes it an argument.
	errOperator = errors.New("the shell runs one command per line: pipes, redirection, & and && are not supported " +
		"(separate commands with ; in exec mode, and quote the character if it belongs to an argument)")
)

// splitLine splits a command line shell-style into commands separated by
// unquoted ';', each a list of words. Single quotes are literal, double quotes
// allow backslash escapes of \ " and $, and a backslash outside quotes escapes
// any character. An unquoted | < > or & is refused: it means a pipe, a
// redirection or a background job to whoever typed it.
func splitLine(line string) ([][]string, error) {
	var (
		cmds  [][]string
		words []string
		cur   strings.Builder
		inTok bool
	)
	endWord := func() {
		if inTok {
			words = append(words, cur.String())
			cur.Reset()
			inTok = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
			words = nil
		}
	}
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\':
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
			inTok = true
		case r == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			if j == len(rs) {
				return nil, errUnterminated
			}
			cur.WriteString(string(rs[i+1 : j]))
			inTok, i = true, j
		case r == '"':
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				if rs[j] == '\\' && j+1 < len(rs) && strings.ContainsRune(`\"$`, rs[j+1]) {
					j++
				}
				cur.WriteRune(rs[j])
			}
			if j == len(rs) {
				return nil, errUnterminated
			}
			inTok, i = true, j
		case r == ';':
			endCmd()
		case r == '|' || r == '<' || r == '>' || r == '&':
			return nil, errOperator
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			endWord()
		default:
			cur.WriteRune(r)
			inTok = true
		}
	}
	endCmd()
	return cmds, nil
}
