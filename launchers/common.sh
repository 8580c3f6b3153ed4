# Shared by the launchers: errors, notes, and printing (and, unless --dry-run, running)
# commands in a form that can be pasted back into a shell. Source it; do not run it.

die() {
  echo "$PROG: error: $*" >&2
  exit 2
}

note() {
  echo "# $*" >&2
}

# Shell-quotes one word for display, so that a printed command can be pasted as is.
quote() {
  local word=$1 prefix='' squote="'\\''"
  if [[ $word =~ ^(--?[A-Za-z0-9_.-]+=|[A-Za-z_][A-Za-z0-9_]*=)(.*)$ ]]; then
    prefix=${BASH_REMATCH[1]}
    word=${BASH_REMATCH[2]}
  fi
  if [[ $word =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
    printf '%s%s' "$prefix" "$word"
  else
    printf "%s'%s'" "$prefix" "${word//\'/$squote}"
  fi
}

join_quoted() {
  local out='' word
  for word in "$@"; do
    out+="${out:+ }$(quote "$word")"
  done
  printf '%s' "$out"
}

# Prints the command; runs it unless --dry-run.
run() {
  echo "+ $(join_quoted "$@")"
  if (( ! DRY_RUN )); then
    "$@"
  fi
}
