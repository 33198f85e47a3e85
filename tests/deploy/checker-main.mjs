// The command line that the deployment checkers share (validate-k8s.mjs,
// validate-cfn.mjs): reads each FILE in turn and checks it with
// checkFile(path, text, report), where report(line) prints one problem (a
// file that cannot be read is one); returns the exit code: 0 when no problem
// was reported, 1 when one was, 2 (with the usage on stderr) when no file was
// given.
import { readFileSync } from 'node:fs';

export async function checkerMain(usage, files, checkFile) {
    if (files.length === 0) {
        console.error(`usage: ${usage}`);
        return 2;
    }
    let failed = 0;
    const report = (line) => {
        failed++;
        console.log(line);
    };
    for (const f of files) {
        let text;
        try {
            text = readFileSync(f, 'utf8');
        } catch (e) {
            report(`${f}: ${e.message}`);
            continue;
        }
        await checkFile(f, text, report);
    }
    return failed > 0 ? 1 : 0;
}
