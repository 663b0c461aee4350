/** The "Examples:" block of a command's --help (every command has one). */
export function examples(...commands: string[]): string {
  return `\nExamples:\n${commands.map((c) => `  $ ${c}`).join('\n')}`;
}
