/**
 * The CLI's options: every option is declared with its type, check and default (`OptSpecs`), parsed by
 * commander (`parseOptions`); anything unknown, missing or malformed is an error naming the option,
 * raised before any work starts. `formatHelp` prints the declarations with every default.
 */
import { Command, Option } from 'commander';
export type OptType = 'int' | 'number' | 'string' | 'bool' | 'json' | 'list';

export interface OptSpec {
  type: OptType;
  help: string;
  default?: unknown;
  /** Allowed values (strings). */
  choices?: readonly string[];
  /** Minimum for int/number. */
  min?: number;
  /** Exclusive minimum for numbers. */
  gt?: number;
  /** Value placeholder in help. */
  meta?: string;
  /**
   * The default that --help shows when the command (not the parser) applies it, e.g. a train-config
   * field whose default comes from lib/train/config.ts only when neither the flag nor --config sets it.
   */
  shown?: unknown;
}

export type OptSpecs = Record<string, OptSpec>;

export class UsageError extends Error {}

/** Levenshtein distance (for "did you mean"). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The commander parser of one command's declared options, with this CLI's error messages. */
class OptionParser extends Command {
  constructor(readonly commandName: string, readonly specs: OptSpecs) {
    super(commandName);
    this.exitOverride().helpOption(false).allowExcessArguments(false).configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    for (const [name, spec] of Object.entries(specs)) {
      if (spec.type === 'bool') {
        this.addOption(new Option(`--${name}`, spec.help));
        this.addOption(new Option(`--no-${name}`).hideHelp());
        continue;
      }
      this.addOption(new Option(`--${name} <${spec.meta ?? spec.type}>`, spec.help).argParser((raw: string) => {
        if (raw.startsWith('--')) this.optionMissingArgument(name);
        return convert(commandName, name, spec, raw);
      }));
    }
  }

  /** commander: an option it does not know (or a lone `-x`). */
  unknownOption(flag: string): never {
    const name = flag.replace(/^--/, '').split('=')[0];
    if (!flag.startsWith('--')) throw new UsageError(`${this.commandName}: unexpected argument '${flag}' (options start with --; see --help)`);
    const near = Object.keys(this.specs).filter((k) => editDistance(k, name) <= 2 || (name.length >= 3 && k.startsWith(name)));
    throw new UsageError(`${this.commandName}: unknown option --${name}${near.length ? ` (did you mean ${near.map((k) => `--${k}`).join(', ')}?)` : ''}; see ${this.commandName} --help`);
  }

  /** commander: an option that needs a value got none. */
  optionMissingArgument(option: Option | string): never {
    const name = typeof option === 'string' ? option : (option.long ?? '').replace(/^--/, '');
    const spec = this.specs[name];
    throw new UsageError(`${this.commandName}: --${name} needs a value (${spec?.meta ?? spec?.type ?? 'a value'})`);
  }

  error(message: string, o?: { code?: string }): never {
    if (o?.code === 'commander.excessArguments') {
      throw new UsageError(`${this.commandName}: unexpected argument '${this.args[0]}' (options start with --; see --help)`);
    }
    throw new UsageError(`${this.commandName}: ${message.replace(/^error: /, '')}`);
  }
}

/**
 * Parse `--name value`, `--name=value`, `--flag`, `--flag=true|false`, `--no-flag` with commander.
 * Returns values keyed by camelCase name, the declared defaults filled in.
 */
export function parseOptions(command: string, argv: string[], specs: OptSpecs): Record<string, unknown> {
  // commander knows `--flag` and `--no-flag`; `--flag=true|false` is this CLI's spelling too
  const args = argv.map((arg) => {
    const m = /^--([^=]+)=(.*)$/s.exec(arg);
    if (!m) return arg;
    const [, name, value] = m;
    if (specs[name]?.type === 'bool') {
      if (value !== 'true' && value !== 'false') throw new UsageError(`${command}: --${name} is a flag (true/false), got '${value}'`);
      return value === 'true' ? `--${name}` : `--no-${name}`;
    }
    if (!specs[name] && name.startsWith('no-') && specs[name.slice(3)]?.type === 'bool') throw new UsageError(`${command}: --${name} takes no value`);
    return arg;
  });
  const parser = new OptionParser(command, specs);
  parser.parse(args, { from: 'user' });
  const out: Record<string, unknown> = {};
  const given = parser.opts();
  for (const [name, s] of Object.entries(specs)) {
    const key = camel(name);
    const v = given[key] ?? s.default;
    if (v !== undefined) out[key] = v;
  }
  return out;
}

function convert(command: string, name: string, s: OptSpec, raw: string): unknown {
  const bad = (why: string) => new UsageError(`${command}: --${name} ${why}, got '${raw}'`);
  switch (s.type) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw bad('must be an integer');
      const v = Number(raw);
      if (s.min !== undefined && v < s.min) throw bad(`must be >= ${s.min}`);
      return v;
    }
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw bad('must be a number');
      if (s.min !== undefined && v < s.min) throw bad(`must be >= ${s.min}`);
      if (s.gt !== undefined && v <= s.gt) throw bad(`must be > ${s.gt}`);
      return v;
    }
    case 'string':
      if (s.choices && !s.choices.includes(raw)) throw bad(`must be one of ${s.choices.join(', ')}`);
      if (raw === '') throw bad('must not be empty');
      return raw;
    case 'list':
      return raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
    case 'json':
      try {
        return JSON.parse(raw);
      } catch (e) {
        throw bad(`must be JSON (${(e as Error).message})`);
      }
    default:
      throw bad('has an unknown type');
  }
}

/** Help text for a command. */
export function formatHelp(command: string, summary: string, specs: OptSpecs, usage?: string): string {
  const lines = [`Usage: channel-distill ${command} ${usage ?? '[options]'}`, '', summary, '', 'Options:'];
  for (const [name, s] of Object.entries(specs)) {
    const meta = s.type === 'bool' ? '' : ` ${s.meta ?? s.type.toUpperCase()}`;
    const def = s.shown !== undefined ? ` (default: ${typeof s.shown === 'string' ? s.shown : JSON.stringify(s.shown)})`
      : s.default !== undefined && s.type !== 'bool' ? ` (default: ${Array.isArray(s.default) ? s.default.join(',') : JSON.stringify(s.default)})` : '';
    const choices = s.choices ? ` [${s.choices.join('|')}]` : '';
    lines.push(`  --${name}${meta}`.padEnd(30) + ` ${s.help}${choices}${def}`);
  }
  lines.push(`  --help`.padEnd(30) + ' show this help');
  return lines.join('\n');
}

/** Parse "HxW" (e.g. 128x256). */
export function parseSize(command: string, name: string, raw: unknown): [number, number] | undefined {
  if (raw === undefined) return undefined;
  const m = /^(\d+)x(\d+)$/.exec(String(raw));
  if (!m || +m[1] < 8 || +m[2] < 8) throw new UsageError(`${command}: --${name} must be HEIGHTxWIDTH like 128x256 (each >= 8), got '${raw}'`);
  return [+m[1], +m[2]];
}

/**
 * `argv` (already accepted by `parseOptions` with `specs`) without the options named in `drop`
 * (with their values, in every spelling: `--x v`, `--x=v`, `--no-x`). Used to pass a command's own
 * options on to the jobs it submits.
 */
export function stripOptions(argv: string[], specs: OptSpecs, drop: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let name = arg.slice(2);
    const eq = name.indexOf('=');
    if (eq >= 0) name = name.slice(0, eq);
    const negated = !specs[name] && name.startsWith('no-') && specs[name.slice(3)]?.type === 'bool';
    const base = negated ? name.slice(3) : name;
    const takesValue = !negated && specs[base] !== undefined && specs[base].type !== 'bool' && eq < 0;
    const words = takesValue ? [arg, argv[++i]] : [arg];
    if (!drop(base)) out.push(...words);
  }
  return out;
}
