// The command table: commands are registered in cac's style —
//   cli.command(name, description).option('--flag <value>', help, { default }).action(run)
// — and parsed by commander, which keeps every option value as the string typed (`--prompt 007`,
// `--prompt ""`), takes a value that starts with a dash (`--temperature -1`, `--prompt "-hello"`),
// and rejects unknown commands, unknown options and stray arguments by name. Help and the version
// print once and exit 0; every usage error becomes a ParseError with a one-line message.
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from './errors';

/** A command line commander could not read: unknown command or option, missing value, stray argument. */
export class ParseError extends UsageError {
  constructor(
    message: string,
    /** What to run for the usage, e.g. `hydra generate --help`. */
    readonly hint: string,
  ) {
    super(message);
  }
}

type Action = (flags: never) => unknown;

/** One command of the table, configured the way cac's commands are. */
export class CommandEntry {
  private readonly defaults: Record<string, unknown> = {};

  constructor(readonly command: Command) {}

  /**
   * `--name <value>` takes a value, `--name` is a switch, `--no-name` turns a switch off. A value
   * option given more than once arrives as an array of its values, in order.
   */
  option(flags: string, description: string, config: { default?: unknown } = {}): this {
    const help = config.default === undefined ? description : `${description} (default: ${String(config.default)})`;
    const option = new Option(flags, help);
    if (option.required || option.optional) option.argParser(collect);
    this.command.addOption(option);
    if (config.default !== undefined) this.defaults[option.attributeName()] = config.default;
    return this;
  }

  action(run: Action): this {
    this.command.action(async (opts: Record<string, unknown>) => {
      await (run as (flags: Record<string, unknown>) => unknown)({ ...this.defaults, ...opts });
    });
    return this;
  }
}

function collect(value: string, previous: unknown): string | string[] {
  if (previous === undefined) return value;
  return Array.isArray(previous) ? [...(previous as string[]), value] : [previous as string, value];
}

/** What a parse ended with when no command ran to completion: help or the version was printed. */
export type ParseOutcome = 'ran' | 'help' | 'version';

export class CommandTable {
  readonly program: Command;

  constructor(readonly name: string) {
    this.program = new Command(name)
      .exitOverride()
      .configureOutput({ outputError: () => {} }) // errors are reported once, by the caller, as ParseError
      .showSuggestionAfterError(true)
      .allowExcessArguments(false)
      .helpCommand(false);
  }

  command(name: string, description: string): CommandEntry {
    const command = this.program.command(name).description(description).exitOverride().configureOutput({ outputError: () => {} }).allowExcessArguments(false);
    return new CommandEntry(command);
  }

  /** Adds -h/--help to every command (commander always has it; kept for cac's registration style). */
  help(): this {
    return this;
  }

  version(version: string): this {
    this.program.version(version, '-v, --version', 'print the version');
    return this;
  }

  /**
   * Runs the command named in `argv` (process.argv: node, script, args...). Resolves 'help' or
   * 'version' when those were printed; throws ParseError for a command line it cannot read.
   */
  async run(argv: readonly string[]): Promise<ParseOutcome> {
    const args = argv.slice(2);
    if (args.length === 0) {
      this.program.outputHelp();
      return 'help';
    }
    try {
      await this.program.parseAsync([...argv]);
      return 'ran';
    } catch (e) {
      if (!(e instanceof CommanderError)) throw e;
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') return 'help';
      if (e.code === 'commander.version') return 'version';
      const command = this.program.commands.find((c) => args.includes(c.name()));
      const hint = command ? `${this.name} ${command.name()} --help` : `${this.name} --help`;
      throw new ParseError(e.message.replace(/^error: /, ''), hint);
    }
  }
}
