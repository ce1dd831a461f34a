# pont's portal, English. One message per user-visible string; fr.ftl has the same ids.

## Layout
skip-to-content = Skip to content
nav-label = Main
nav-meetings = Meetings
nav-calendar = Calendar
nav-recordings = Recorded sessions
nav-public = Public recordings
nav-accounts = Accounts
lang-label = Language
sign-in = Sign in
sign-out = Sign out
footer = pont — video and audio meetings for your institution, by web, phone and room systems.
back-home = Back to the home page

## Home
home-title = Home
home-welcome = Meet by web, phone or room system
home-lead = Join a meeting with its room number, or sign in to plan and run your own.
home-hello = Hello, { $name }
home-lead-signed-in = Start a meeting now, or find the ones you planned.
join-title = Join a meeting
join-help = The room number is in your invitation. No account needed.
room-number = Room number
room-number-n = room { $room }
join = Join
organizers-title = Organizers
organizers-help = Sign in with your institution's account to start meetings, plan them and find your recordings. If you have no account yet, it is created at once.
instant-title = Start an instant meeting
instant-help = A new room, ready now: share its link or its number.
instant-subject = Subject (optional)
instant-placeholder = Meeting now
instant-start = Start the meeting
instant-default-subject = Meeting of { $name }
instant-too-long = The subject is too long: at most { $count } characters.
next-title = Your next meetings
next-none = No meeting planned.
next-all = All your meetings
more-title = Your space
more-calendar = your planned meetings by date
more-recordings = your recordings, to validate, publish or download
more-public = the recordings published by your institution
when-instant = instant meeting
when-daily = { $when }, every day
when-weekly = { $when }, every week
when-monthly = { $when }, every month

## Forms
form-unreadable = The form could not be read. Please fill it in again.
form-too-large = The form is too large. Please shorten what you typed.

## Sign-in
signin-title = Sign in
signin-help = Organizers sign in with the account of their institution (single sign-on).
signin-sso = Sign in with my institution
signin-first-time = First time here? Your account is created when you first sign in.
signin-no-sso = Single sign-on is not configured on this server.
signin-token = Administrators can also give you a personal sign-in link (pont token create).
signin-bad-token-title = This sign-in link does not work
signin-bad-token = The link is wrong, or it was revoked. Ask for a new one.
signin-failed-title = You are not signed in
signin-down = The sign-in service of your institution is not answering. The rest of the site works: try signing in again in a few minutes.
signin-bad-state = This sign-in answer does not match a sign-in started in this browser, or it was already used. Please start again.
signin-refused = Your institution's sign-in service refused the sign-in.
signin-bad-token-idp = The sign-in answer could not be verified, so it was refused.
signin-domain = Your institution's account is valid, but its e-mail domain is not allowed to sign in here.
signin-again = Sign in again

## Meetings
meetings-title = Meetings
meetings-yours = Your meetings
meetings-none = You have no meeting yet.
col-subject = Subject
col-when = When
col-room = Room
col-dial-in = Room systems
pin-set = PIN
col-name = Name
col-email = E-mail
col-role = Role
col-created = Created
col-last-seen = Last seen
never = never

## Admin
accounts-title = Accounts
accounts-count = { $count ->
    [one] One account.
   *[other] { $count } accounts.
}

## Recordings
recordings-lead = The meetings you recorded. They stay private until you publish them.
recordings-none = You have no recording yet. Start one from a meeting's page or with the API.
recording-part = part { $count }
recording-interrupted = interrupted
col-title = Title
col-recorded = Recorded
col-duration = Duration
col-status = Status
col-visibility = Visibility
col-download = Download
status-recording = recording
status-processing = processing
status-pending_validation = to validate
visibility-private = private
visibility-organizers = organizers
visibility-public = public
public-lead = Recordings your institution chose to publish: anyone may watch them, no account needed.
public-none = No recording has been published yet.
calendar-lead = Your planned meetings by date (times in UTC).

col-delete-at = Deleted on
edit-title = Title, window and publication
field-description = Description
visibility-private-help = only you list it; its watch link works for whoever has it
visibility-organizers-help = the organizers of the institution list it
visibility-public-help = in the public recordings, anyone may watch it
field-window = Viewing window
field-window-help = What the watch link shows (hours:minutes:seconds); empty: all of it. The download link always gives the whole original file.
field-window-start = From
field-window-end = to
field-validated = Validated: give it a watch link and a download link (taking the validation back kills both)
field-owner = Give it to another account
field-owner-help = The e-mail or the name of an account that has signed in; empty: it stays yours.
save = Save
saved = Saved.
links-title = Links
links-watch = Watch page
links-download = Download the original file
links-none = Validate the recording to get its watch and download links.
copy-download = Copy the download link
copied = Copied.
delete-never = It is kept until you delete it.
delete-on = It will be deleted on { $when }: download it before if you need it.
error-trim = The viewing window must start before it ends, within the recording ({ $when }), written as hours:minutes:seconds.
error-owner = No account has this e-mail or name: the new owner must have signed in once.
error-title = The title must be 1 to 200 characters.
error-description = The description is too long.
error-validate-incomplete = The recording is not finished yet: it can be validated once it is.
watch-not-found-title = This recording is not available
watch-not-found = The link is wrong, or the recording is no longer published.
status-validated = validated

## Errors
error-forbidden-title = Not allowed
error-csrf = This form was not sent from this site's page, so nothing was changed. Reload the page and try again.
error-admins-only = This page is for administrators.
error-internal-title = Something went wrong
error-internal = The server could not do this. Nothing was lost; try again in a moment.

## The meeting page (its script's strings: the meeting- prefix is dropped)
meeting-room_number = Room number
meeting-join = Join
meeting-your_name = Your name
meeting-room = Room
meeting-mute_mic = Mute microphone
meeting-unmute_mic = Unmute microphone
meeting-stop_camera = Stop camera
meeting-start_camera = Start camera
meeting-leave = Leave
meeting-participants = Participants
meeting-you = you
meeting-speaking = speaking
meeting-muted = muted
meeting-connecting = Connecting…
meeting-connected = Connected
meeting-reconnecting = Connection lost: reconnecting…
meeting-left = You left the meeting.
meeting-rejoin = Join again
meeting-denied = Camera and microphone access was denied. Allow it in the browser's site settings, then reload the page.
meeting-no_device = No camera or microphone was found: joining without them.
meeting-unknown_room = This room does not exist. Check the room number.
meeting-room_full = This room is full. Try again later.
meeting-room_locked = The organizer has locked this room. Ask them to unlock it.
meeting-error = Error
meeting-insecure = Camera and microphone need HTTPS (or http://localhost).
meeting-recording_storage_full = Recording stopped: the recording storage is full. What was recorded is kept.
meeting-recording_storage_error = Recording stopped: the recording could not be written. What was recorded is kept.
meeting-recording = Recording
meeting-language = Language
meeting-recording_controls = Recording controls
meeting-rec_start = Record
meeting-rec_pause = Pause recording
meeting-rec_resume = Resume recording
meeting-rec_stop = Stop recording
