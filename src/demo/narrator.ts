// Plain-sentence narration for the demo: numbered steps, indented sentences, command lines with their
// output, and checks that stop the demo (non-zero exit) when an expectation does not hold.
export class DemoCheckFailed extends Error {
  override name = 'DemoCheckFailed';
}

export class Narrator {
  private readonly write: (s: string) => void;
  private readonly total: number;
  private n = 0;

  constructor(total: number, write: (s: string) => void = (s) => void process.stdout.write(s)) {
    this.total = total;
    this.write = write;
  }

  title(text: string, intro: string): void {
    this.write(`${text}\n${'='.repeat(text.length)}\n${intro.trim()}\n`);
  }

  step(text: string): void {
    this.n++;
    this.write(`\nStep ${this.n}/${this.total}: ${text}\n`);
  }

  say(text: string): void {
    this.write(`  ${text}\n`);
  }

  /** a command as the reader would type it */
  command(cmd: string): void {
    this.write(`  $ ${cmd}\n`);
  }

  /** program output, indented under its command */
  output(text: string | readonly string[]): void {
    const lines = typeof text === 'string' ? text.replace(/\n+$/, '').split('\n') : text;
    for (const l of lines) this.write(`    ${l}\n`);
  }

  /** Passes silently when cond holds; otherwise stops the demo with what was expected and what was seen. */
  check(cond: boolean, expected: string, seen: string): void {
    if (!cond) throw new DemoCheckFailed(`expected ${expected}, but ${seen}`);
  }

  raw(text: string): void {
    this.write(text);
  }
}
