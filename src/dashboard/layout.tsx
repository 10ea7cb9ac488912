/** @jsxImportSource hono/jsx */
// The pages' frame and the sign-in page. The stylesheet and the one script go out byte for byte (JSX
// would escape their quotes) so that their hashes match the Content-Security-Policy (guard.ts).
import type { Child } from 'hono/jsx';
import { COPY_SCRIPT, STYLE } from './style.ts';

export function Layout({ title, children }: { title: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
        <style dangerouslySetInnerHTML={{ __html: STYLE }} />
      </head>
      <body>
        {children}
        <script dangerouslySetInnerHTML={{ __html: COPY_SCRIPT }} />
      </body>
    </html>
  );
}

export function LoginPage({ error }: { error?: string | undefined }) {
  return (
    <Layout title="Tollgate · sign in">
      <main class="login">
        <h1>Tollgate</h1>
        <p class="muted">Billing dashboard. Sign in with the admin key.</p>
        <form method="post" action="/dashboard/login">
          <label for="key">Admin key</label>
          <input id="key" name="key" type="password" autocomplete="current-password" required />
          {error ? (
            <p class="error" role="alert">
              {error}
            </p>
          ) : null}
          <button type="submit">Sign in</button>
        </form>
      </main>
    </Layout>
  );
}
