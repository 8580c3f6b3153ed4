# Shared by the launchers: errors, notes, and printing (and, unless --dry-run, running)
# commands in a form that can be pasted back into a shell. Source it; do not run it.

die() {
  echo "$PROG: error: $*" >&2
  exit 2
}

# Parses a launcher's arguments: options named in $1 (space-separated) take a value,
# as `--name VALUE` or `--name=VALUE`; those named in $2 take none; `--` ends them and
# what follows goes to EXTRA. Each option goes to the launcher's `set_option NAME [VALUE]`.
parse_options() {
  local valued=" $1 " flags=" $2 " arg value has_value
  local given=()  # 'option=value' of each option given (no associative arrays: bash 3)
  shift 2
  EXTRA=()
  while (( $# )); do
    arg=$1
    shift
    value=''
    has_value=0
    if [[ $arg == --*=* ]]; then
      value=${arg#*=}
      arg=${arg%%=*}
      has_value=1
    fi
    if [[ $arg == -- ]]; then
      EXTRA=("$@")
      # main refuses a second --config (on a TPU VM, once it was created and set up).
      for arg in "${EXTRA[@]}"; do
        case $arg in
          --config|--config=*|-config|-config=*)
            die "$arg after -- would be main's second --config, which it refuses; give it before --, as this launcher's --config" ;;
        esac
        # main refuses a flag value with a line break as well (after the VM was made).
        [[ $arg != *$'\n'* ]] || die "the argument '${arg%%$'\n'*}...' after -- holds a line break; give one value on one line"
      done
      break
    elif [[ $valued == *" $arg "* ]]; then
      if (( ! has_value )); then
        (( $# )) || die "$arg needs a value"
        # `--logdir --dry-run` took --dry-run for the logdir, and ran for real.
        [[ $1 != --* ]] || die "$arg needs a value (got the option $1)"
        value=$1
        shift
      fi
      [[ -n $value ]] || die "$arg needs a non-empty value"
      # main refuses such a path, but on the TPU VM only after tpu_vm.sh had created it
      # and installed the code there; and an error line quoting it became two.
      [[ $value != *$'\n'* ]] || die "$arg holds a line break; give one value on one line"
      given+=("$arg=$value")
      set_option "$arg" "$value"
    elif [[ $flags == *" $arg "* ]]; then
      (( ! has_value )) || die "$arg takes no value"
      set_option "$arg"
    else
      die "unknown argument '$arg' (see --help)"
    fi
  done
  (( ${#given[@]} == 0 )) || warn_repeated "${given[@]}"
}

# One warning line for each option given with other values ($@: 'option=value', in
# order): the last was taken without a word (--index 0 ... --index 1 ran as worker 1).
# main warns the same way for its flags; three values were a 'given twice' line each.
warn_repeated() {
  local entry other name seen=' ' values shown
  for entry in "$@"; do
    name=${entry%%=*}
    [[ $seen != *" $name "* ]] || continue
    seen+="$name "
    values=()
    for other in "$@"; do
      [[ ${other%%=*} != "$name" ]] || values+=("${other#*=}")
    done
    for other in "${values[@]}"; do
      [[ $other == "${values[0]}" ]] || break
    done
    [[ $other != "${values[0]}" ]] || continue  # all the same value
    if (( ${#values[@]} == 2 )); then
      shown="twice ('${values[0]}', then '${values[1]}')"
    else
      shown="${#values[@]} times ($(printf "'%s', " "${values[@]}")"
      shown="${shown%, })"
    fi
    echo "$PROG: Warning: $name is given $shown; the last, '${values[${#values[@]} - 1]}', is used" >&2
  done
}

# Prints $1 without its leading zeros if it is a whole number of at most 9 digits, else
# fails: bash's arithmetic wraps past 2**63, and --index 18446744073709551616 ran as
# worker 0, the chief, a port of 2**64 + 1 as port 1.
small_number() {
  [[ $1 =~ ^0*([0-9]{1,9})$ ]] || return 1
  printf '%d' "$(( 10#${BASH_REMATCH[1]} ))"
}

# Stops unless $PYTHON names a program (not under --dry-run: its commands may be for
# another host): PYTHON=python3.11 on a host without one printed the command, then
# env's "'python3.11': No such file or directory", exit 127.
check_python() {
  (( DRY_RUN )) || command -v "$PYTHON" >/dev/null 2>&1 \
    || die "PYTHON '$PYTHON' names no program on PATH; set PYTHON to the interpreter that has dreamerv3_tf's requirements installed"
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

# Checks the presets of --config FILE:NAMES against FILE's table, read and not run (a dry
# run executes nothing): an unknown preset failed only in main, after tpu_vm.sh had
# created the VM and set it up. A config file of one's own that does not call
# presets.apply_presets is left to main.
check_presets() {
  local file=$1 names=$2 name text path=$1 base="$REPO/configs/base.py"
  local -a list
  [[ $path == /* ]] || path=$REPO/$file
  text=$(<"$path")
  [[ $text == *'presets.apply_presets('* ]] || return 0
  IFS=, read -r -a list <<< "$names"
  for name in "${list[@]}"; do
    name=${name//[[:space:]]/}
    case $name in ''|train_eval|train|eval_only|debug) continue ;; esac
    if [[ $name == size* ]] && { [[ ! -f $base ]] || grep -qF "'${name#size}':" "$base"; }; then
      continue  # base.SIZES
    fi
    [[ $text == *"'$name'"* || $text == *"\"$name\""* ]] \
      || die "--config $file has no preset '$name' (see its get_config and configs/presets.py)"
  done
  # Two of one kind, which main refuses (configs/presets.py): on a TPU VM, once created.
  local script='' size='' view='' first what
  for name in "${list[@]}"; do
    name=${name//[[:space:]]/}
    case $name in
      train_eval|train|eval_only) what='the script' first=${script:=$name} ;;
      size*) what='the model size' first=${size:=$name} ;;
      proprio|vision) what='the observations' first=${view:=$name} ;;
      *) continue ;;
    esac
    [[ $first == "$name" ]] \
      || die "--config $file: presets '$first' and '$name' both set $what, and only the last would count; give one"
  done
}

# The file of --config SPEC $1, cut as main cuts it (its split_config): at the first
# colon, unless that names no file and a later colon, or none, does (a folder named with
# a colon: the file was 'not found'). $2: where a relative one is looked for.
config_file() {
  local spec=$1 base=$2 cut=${1%%:*} path rest
  while :; do
    path=$cut
    [[ $path == /* ]] || path=$base/$path
    if [[ -f $path ]]; then
      printf '%s' "$cut"
      return
    fi
    (( ${#cut} < ${#spec} )) || break
    rest=${spec:${#cut} + 1}
    if [[ $rest == *:* ]]; then cut=$cut:${rest%%:*}; else cut=$spec; fi
  done
  printf '%s' "${spec%%:*}"
}

# Checks --config SPEC: its file, relative to the repository root (where main runs) or a
# full path (one of the checkout's was refused as 'not found in <repo>'), and its presets.
check_config() {
  local spec=$1 file
  file=$(config_file "$spec" "$REPO")
  if [[ $file == /* ]]; then
    [[ -f $file ]] || die "--config file '$file' not found"
  else
    [[ -f $REPO/$file ]] || die "--config file '$file' not found in $REPO"
  fi
  (( ${#file} == ${#spec} )) || check_presets "$file" "${spec:${#file} + 1}"
}

# A local path as a full one: main runs from the repository root, where a relative
# --logdir given elsewhere (runs/a, from ~) trained in <repo>/runs/a. Remote (gs://)
# paths and ~ (which main expands) stay as they are.
full_path() {
  local path=$1
  if [[ $path == /* || $path == *://* || $path == '~'* ]]; then
    printf '%s' "$path"
  else
    printf '%s/%s' "$PWD" "${path#./}"
  fi
}

# Stops on a local `--logdir` $1 that exists and is no directory: main refused it only
# once started (on each host of multi_worker.sh), and a dry run printed it as fine.
check_logdir() {
  local path=$1
  [[ $path != *://* ]] || return 0
  [[ $path != '~'* ]] || path=${HOME:-}${path#'~'}
  [[ ! -e $path || -d $path ]] || die "--logdir $1 is a file, not a directory"
}

# main's path flags among the flags after `--` as full paths too (see full_path): a
# relative --config.run.from_checkpoint given elsewhere was looked for in <repo>.
PATH_FLAGS='--logdir --config.logdir --config.run.from_checkpoint --config.run.resume_from'
full_path_flags() {
  # And absl's --flagfile: one given here was read from <repo> ('cannot read'). (Not on a
  # TPU VM, where one of the checkout is read from its copy there.)
  PATH_FLAGS="$PATH_FLAGS --flagfile" each_path_flag full_path
}

# Calls `$1 NAME VALUE` for each of PATH_FLAGS after `--` (as NAME=VALUE or NAME VALUE,
# a non-empty value) and puts what it prints in the value's place.
each_path_flag() {
  local i word name fn=$1 value
  for (( i = 0; i < ${#EXTRA[@]}; i++ )); do
    word=${EXTRA[i]}
    for name in $PATH_FLAGS; do
      if [[ $word == "$name="?* ]]; then
        value=$("$fn" "${word#*=}" "$name") || exit
        EXTRA[i]="$name=$value"
      elif [[ $word == "$name" ]] && (( i + 1 < ${#EXTRA[@]} )) \
          && [[ -n ${EXTRA[i + 1]} && ${EXTRA[i + 1]} != -* ]]; then
        value=$("$fn" "${EXTRA[i + 1]}" "$name") || exit
        EXTRA[i + 1]=$value
        (( ++i ))
      fi
    done
  done
}

# $PYTHONPATH with its relative entries made full, or nothing when it has none: main
# runs from the repository root, where PYTHONPATH=myenvs (a py_ task's module) named
# <repo>/myenvs, and the run said 'env module ... not found: put the directory that
# holds it on PYTHONPATH', which the caller had.
full_pythonpath() {
  local entry out='' relative=0
  local -a entries
  [[ -n ${PYTHONPATH:-} ]] || return 0
  IFS=: read -r -a entries <<< "$PYTHONPATH"
  [[ $PYTHONPATH != *: ]] || entries+=('')  # (read drops a last empty field)
  for entry in "${entries[@]}"; do
    if [[ -z $entry ]]; then  # Python reads an empty entry as the working directory
      relative=1
      entry=$PWD
    elif [[ $entry != /* ]]; then
      relative=1
      entry=$(full_path "$entry")
    fi
    out+="${out:+:}$entry"
  done
  (( relative )) && printf '%s' "$out"
  return 0
}
