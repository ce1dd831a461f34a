# Le portail de pont, en français. Un message par texte affiché ; en.ftl a les mêmes identifiants.

## Mise en page
skip-to-content = Aller au contenu
nav-label = Navigation principale
nav-meetings = Réunions
nav-calendar = Agenda
nav-recordings = Sessions enregistrées
nav-public = Enregistrements publics
nav-accounts = Comptes
lang-label = Langue
sign-in = Se connecter
sign-out = Se déconnecter
footer = pont — réunions vidéo et audio de votre établissement, par le web, le téléphone et les salles équipées.
back-home = Retour à l'accueil

## Accueil
home-title = Accueil
home-welcome = Réunissez-vous par le web, le téléphone ou en salle
home-lead = Rejoignez une réunion avec son numéro de salle, ou connectez-vous pour organiser les vôtres.
home-hello = Bonjour, { $name }
home-lead-signed-in = Lancez une réunion maintenant, ou retrouvez celles que vous avez planifiées.
join-title = Rejoindre une réunion
join-help = Le numéro de salle figure dans votre invitation. Aucun compte n'est nécessaire.
room-number = Numéro de salle
room-number-n = salle { $room }
join = Rejoindre
organizers-title = Organisateurs
organizers-help = Connectez-vous avec le compte de votre établissement pour lancer des réunions, les planifier et retrouver vos enregistrements. Si vous n'avez pas encore de compte, il est créé immédiatement.
instant-title = Lancer une réunion immédiate
instant-help = Une nouvelle salle, prête tout de suite : partagez son lien ou son numéro.
instant-subject = Objet (facultatif)
instant-placeholder = Réunion immédiate
instant-start = Lancer la réunion
instant-default-subject = Réunion de { $name }
instant-too-long = L'objet est trop long : { $count } caractères au plus.
next-title = Vos prochaines réunions
next-none = Aucune réunion planifiée.
next-all = Toutes vos réunions
more-title = Votre espace
more-calendar = vos réunions planifiées, par date
more-recordings = vos enregistrements, à valider, publier ou télécharger
more-public = les enregistrements publiés par votre établissement
when-instant = réunion immédiate
when-daily = { $when }, tous les jours
when-weekly = { $when }, toutes les semaines
when-monthly = { $when }, tous les mois

## Formulaires
form-unreadable = Le formulaire n'a pas pu être lu. Merci de le remplir à nouveau.
form-too-large = Le formulaire est trop volumineux. Merci de raccourcir votre saisie.

## Connexion
signin-title = Connexion
signin-help = Les organisateurs se connectent avec le compte de leur établissement (authentification unique).
signin-sso = Me connecter avec mon établissement
signin-first-time = Première visite ? Votre compte est créé à votre première connexion.
signin-no-sso = L'authentification unique n'est pas configurée sur ce serveur.
signin-token = Les administrateurs peuvent aussi vous donner un lien de connexion personnel (pont token create).
signin-bad-token-title = Ce lien de connexion ne fonctionne pas
signin-bad-token = Le lien est erroné, ou il a été révoqué. Demandez-en un nouveau.
signin-failed-title = Vous n'êtes pas connecté
signin-down = Le service de connexion de votre établissement ne répond pas. Le reste du site fonctionne : réessayez de vous connecter dans quelques minutes.
signin-bad-state = Cette réponse de connexion ne correspond à aucune connexion commencée dans ce navigateur, ou elle a déjà servi. Merci de recommencer.
signin-refused = Le service de connexion de votre établissement a refusé la connexion.
signin-bad-token-idp = La réponse de connexion n'a pas pu être vérifiée : elle a été refusée.
signin-domain = Le compte de votre établissement est valide, mais son domaine de messagerie n'est pas autorisé à se connecter ici.
signin-again = Se connecter à nouveau

## Réunions
meetings-title = Réunions
meetings-yours = Vos réunions
meetings-none = Vous n'avez encore aucune réunion.
col-subject = Objet
col-when = Quand
col-room = Salle
col-dial-in = Salles équipées
pin-set = code PIN
col-name = Nom
col-email = Courriel
col-role = Rôle
col-created = Créé le
col-last-seen = Dernière visite
never = jamais

## Administration
accounts-title = Comptes
accounts-count = { $count ->
    [one] Un compte.
   *[other] { $count } comptes.
}

## Enregistrements
recordings-lead = Les réunions que vous avez enregistrées. Elles restent privées tant que vous ne les publiez pas.
recordings-none = Vous n'avez encore aucun enregistrement. Lancez-en un depuis la page d'une réunion ou avec l'API.
recording-part = partie { $count }
recording-interrupted = interrompu
col-title = Titre
col-recorded = Enregistré le
col-duration = Durée
col-status = État
col-visibility = Visibilité
col-download = Télécharger
status-recording = en cours
status-processing = en traitement
status-pending_validation = à valider
visibility-private = privé
visibility-organizers = organisateurs
visibility-public = public
public-lead = Les enregistrements que votre établissement a choisi de publier : chacun peut les regarder, sans compte.
public-none = Aucun enregistrement n'a encore été publié.
calendar-lead = Vos réunions planifiées, par date (heures UTC).

col-delete-at = Supprimé le
edit-title = Titre, fenêtre et publication
field-description = Description
visibility-private-help = vous seul le voyez dans votre liste ; son lien de visionnage fonctionne pour qui l'a
visibility-organizers-help = les organisateurs de l'établissement le voient dans leur liste
visibility-public-help = dans les enregistrements publics, chacun peut le regarder
field-window = Fenêtre de visionnage
field-window-help = Ce que montre le lien de visionnage (heures:minutes:secondes) ; vide : tout. Le lien de téléchargement donne toujours le fichier original entier.
field-window-start = De
field-window-end = à
field-validated = Validé : lui donner un lien de visionnage et un lien de téléchargement (retirer la validation les désactive tous deux)
field-owner = Le confier à un autre compte
field-owner-help = Le courriel ou le nom d’un compte qui s’est déjà connecté ; vide : il reste à vous.
save = Enregistrer
saved = Enregistré.
links-title = Liens
links-watch = Page de visionnage
links-download = Télécharger le fichier original
links-none = Validez l'enregistrement pour obtenir ses liens de visionnage et de téléchargement.
copy-download = Copier le lien de téléchargement
copied = Copié.
delete-never = Il est conservé jusqu'à ce que vous le supprimiez.
delete-on = Il sera supprimé le { $when } : téléchargez-le avant si vous en avez besoin.
error-trim = La fenêtre de visionnage doit commencer avant de finir, dans l'enregistrement ({ $when }), écrite en heures:minutes:secondes.
error-owner = Aucun compte n’a ce courriel ni ce nom : le nouveau propriétaire doit s’être connecté une fois.
error-title = Le titre doit compter de 1 à 200 caractères.
error-description = La description est trop longue.
error-validate-incomplete = L'enregistrement n'est pas encore terminé : il pourra être validé ensuite.
watch-not-found-title = Cet enregistrement n'est pas disponible
watch-not-found = Le lien est erroné, ou l'enregistrement n'est plus publié.
status-validated = validé

## Erreurs
error-forbidden-title = Action non autorisée
error-csrf = Ce formulaire n'a pas été envoyé depuis une page de ce site : rien n'a été modifié. Rechargez la page et réessayez.
error-admins-only = Cette page est réservée aux administrateurs.
error-internal-title = Un problème est survenu
error-internal = Le serveur n'a pas pu faire cela. Rien n'a été perdu ; réessayez dans un instant.

## La page de réunion (textes de son script : le préfixe meeting- est retiré)
meeting-room_number = Numéro de salle
meeting-join = Rejoindre
meeting-your_name = Votre nom
meeting-room = Salle
meeting-mute_mic = Couper le micro
meeting-unmute_mic = Activer le micro
meeting-stop_camera = Couper la caméra
meeting-start_camera = Activer la caméra
meeting-leave = Quitter
meeting-participants = Participants
meeting-you = vous
meeting-speaking = parle
meeting-muted = micro coupé
meeting-connecting = Connexion…
meeting-connected = Connecté
meeting-reconnecting = Connexion perdue : reconnexion…
meeting-left = Vous avez quitté la réunion.
meeting-rejoin = Rejoindre à nouveau
meeting-denied = L'accès à la caméra et au micro a été refusé. Autorisez-le dans les réglages du site, puis rechargez la page.
meeting-no_device = Aucune caméra ni aucun micro trouvé : vous rejoignez sans.
meeting-unknown_room = Cette salle n'existe pas. Vérifiez le numéro de salle.
meeting-room_full = Cette salle est pleine. Réessayez plus tard.
meeting-room_locked = L'organisateur a verrouillé cette salle. Demandez-lui de la déverrouiller.
meeting-error = Erreur
meeting-insecure = La caméra et le micro exigent HTTPS (ou http://localhost).
meeting-recording_storage_full = Enregistrement arrêté : l'espace de stockage est plein. Ce qui a été enregistré est conservé.
meeting-recording_storage_error = Enregistrement arrêté : l'écriture a échoué. Ce qui a été enregistré est conservé.
meeting-recording = Enregistrement
meeting-language = Langue
meeting-recording_controls = Commandes d'enregistrement
meeting-rec_start = Enregistrer
meeting-rec_pause = Suspendre l'enregistrement
meeting-rec_resume = Reprendre l'enregistrement
meeting-rec_stop = Arrêter l'enregistrement
