package completion

import "fmt"

// Shells are the shells Script writes for.
var Shells = []string{"bash", "zsh", "fish"}

// Script returns the completion script for shell. Each asks the panoptes it completes
// for (the command word as typed) through `__complete`, and falls back to file names
// where that offers nothing (after -r, -w, -R and for arguments).
func Script(shell string) (string, error) {
	switch shell {
	case "bash":
		return bashScript, nil
	case "zsh":
		return zshScript, nil
	case "fish":
		return fishScript, nil
	}
	return "", fmt.Errorf("no completion for shell %q (have: bash, zsh, fish)", shell)
}

// bash splits words at COMP_WORDBREAKS (= and : among them), which would cut
// --fields=saddr in two: the words are split again from COMP_LINE at blanks, and the
// part of the current word up to its last = or : is taken off each candidate, as bash
// replaces only what follows it.
const bashScript = `# bash completion for panoptes: panoptes completion bash
_panoptes() {
    local line=${COMP_LINE:0:COMP_POINT}
    local -a words out
    read -ra words <<<"$line"
    [[ $line == *[[:space:]] ]] && words+=("")
    local cur=${words[${#words[@]}-1]}
    local wb=${cur%"${cur##*[=:]}"}
    local IFS=$'\n' c
    out=($("${words[0]}" __complete "${words[@]:1}" 2>/dev/null))
    COMPREPLY=()
    for c in "${out[@]}"; do
        c=${c%%$'\t'*}
        COMPREPLY+=("${c#"$wb"}")
    done
}
complete -o default -F _panoptes panoptes
`

const zshScript = `#compdef panoptes
# zsh completion for panoptes: panoptes completion zsh
_panoptes() {
    local -a out cands descs
    local l
    out=("${(@f)$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    for l in "${out[@]}"; do
        [[ -z $l ]] && continue
        cands+=("${l%%$'\t'*}")
        descs+=("${l%%$'\t'*}  -- ${l#*$'\t'}")
    done
    if (( ${#cands} )); then
        compadd -Q -l -d descs -a cands
    else
        _files
    fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _panoptes "$@"
else
    compdef _panoptes panoptes
fi
`

const fishScript = `# fish completion for panoptes: panoptes completion fish
function __panoptes_complete
    set -l tokens (commandline -opc) (commandline -ct)
    set -l out ($tokens[1] __complete $tokens[2..-1] 2>/dev/null)
    if test (count $out) -eq 0
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\n' $out
end
complete -c panoptes -f -a '(__panoptes_complete)'
`
