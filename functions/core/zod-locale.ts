/**
 * zod/mini, unlike zod, loads no locale: without one, every message zod writes itself is
 * "Invalid input". Some reach people (`invalid configuration: AWS_ACCOUNT_ID: Invalid input:
 * expected string, received undefined`, a permissions file's `readWriteSplit: Invalid input:
 * expected boolean, received string`, a malformed Spacelift answer), so every module that
 * declares a schema imports this one for its effect: zod's English messages, as before.
 *
 * `en` is imported by name: `z.locales.en()` would put every locale zod has (≈ 260 KB) into
 * the bundle, this only English (≈ 3 KB).
 */

import { en } from "zod/locales";
import * as z from "zod/mini";

z.config(en());
