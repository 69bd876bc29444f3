// Placeholder until its issue lands; replaced by the real subcommand.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('kube-latch diff: not built yet\n');
  return 1;
}
