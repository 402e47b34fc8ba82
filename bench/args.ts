/**
 * Command-line options of `npm run bench` (see bench/run.ts for what they do).
 */
import * as fs from 'fs';
import * as path from 'path';
import { EXPERIMENT_DEFAULTS } from '../lib/train/config';

export const SECTIONS = ['losses', 'step', 'pipeline', 'memory', 'torch'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchArgs {
  only: Section[];
  quick: boolean;
  steps: number | null;
  batch: number | null;
  size: [number, number];
  /** Second step size; 'demo' = the crop and batch of `npm run demo` (lib/train/demo.ts). */
  demoSize: [number, number] | null | 'demo';
  memorySteps: number | null;
  teacher: string;
  student: string;
  /** More students timed at the main size with their profile (default: student-mnv2, the depthwise one; none in --quick). */
  alsoStudents: string[] | null;
  backend: string | null;
  threads: number | null;
  torch: boolean;
  profile: boolean;
  jsonOut: string | null;
  markdown: boolean;
  markdownFrom: string | null;
  /** Write bench/RESULTS.md (or the given file) with the markdown of this run. */
  writeResults: string | null;
  note: string | null;
}

function parseSize(v: string, opt: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(v);
  if (!m) throw new Error(`${opt} must be HxW (e.g. 256x512), got ${JSON.stringify(v)}`);
  return [Number(m[1]), Number(m[2])];
}

function parseInt10(v: string | undefined, opt: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${opt} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

export function parseArgs(argv: string[]): BenchArgs {
  const a: BenchArgs = {
    only: [...SECTIONS], quick: false, steps: null, batch: null, size: [256, 512], demoSize: 'demo', memorySteps: null,
    teacher: EXPERIMENT_DEFAULTS.teacher, student: EXPERIMENT_DEFAULTS.student, alsoStudents: null, backend: null, threads: null, torch: true, profile: true,
    jsonOut: null, markdown: false, markdownFrom: null, writeResults: null, note: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [key, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new Error(`${key} needs a value`);
      return v;
    };
    switch (key) {
      case '--only': {
        const list = value().split(',').map((s) => s.trim()).filter(Boolean);
        for (const s of list) {
          if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only: unknown section '${s}'; sections are ${SECTIONS.join(', ')}`);
        }
        a.only = list as Section[];
        break;
      }
      case '--quick': a.quick = true; break;
      case '--steps': a.steps = parseInt10(value(), '--steps'); break;
      case '--batch': a.batch = parseInt10(value(), '--batch'); break;
      case '--size': a.size = parseSize(value(), '--size'); break;
      case '--demo-size': { const v = value(); a.demoSize = v === 'none' ? null : v === 'demo' ? 'demo' : parseSize(v, '--demo-size'); break; }
      case '--memory-steps': a.memorySteps = parseInt10(value(), '--memory-steps'); break;
      case '--teacher': a.teacher = value(); break;
      case '--student': a.student = value(); break;
      case '--also-students': { const v = value(); a.alsoStudents = v === 'none' ? [] : v.split(',').map((x) => x.trim()).filter(Boolean); break; }
      case '--backend': a.backend = value(); break;
      case '--threads': a.threads = parseInt10(value(), '--threads'); break;
      case '--no-torch': a.torch = false; break;
      case '--no-profile': a.profile = false; break;
      case '--json-out': a.jsonOut = value(); break;
      case '--markdown': a.markdown = true; break;
      case '--markdown-from': a.markdownFrom = value(); a.markdown = true; break;
      case '--note': a.note = value(); break;
      case '--write-results': a.writeResults = inline ?? path.join(__dirname, 'RESULTS.md'); a.markdown = true; break;
      case '--help': case '-h':
        console.log(fs.readFileSync(path.join(__dirname, 'run.ts'), 'utf8').split('*/')[0].replace(/^\/\*\*?|^ \* ?/gm, ''));
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option '${arg}' (see npm run bench -- --help)`);
    }
  }
  return a;
}

