// The signed-in key, kept in sessionStorage: it lives as long as the browser
// tab's session and is never written to localStorage or a cookie.

/** The two roles of an admin key (deployment.admin.admin_key[].role). */
export type Role = "admin" | "viewer";

/** Who is signed in. */
export interface Session {
  key: string;
  name: string;
  role: Role;
}

const STORAGE_KEY = "strait.session";

/** The current session, or null when signed out. */
export function loadSession(): Session | null {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Session;
    if (typeof s.key === "string" && (s.role === "admin" || s.role === "viewer")) return s;
  } catch {
    // A damaged entry counts as signed out.
  }
  return null;
}

/** Remember a session for this browser session. */
export function saveSession(s: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
}

/** Forget the key. */
export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}
